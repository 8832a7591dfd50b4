"""``ModelSelectionResult.plot_history``: a grid at any number of metrics, a legend per panel,
integer epochs, the best model's best epoch marked (cerebro/tune/plots.py)."""

from __future__ import annotations

import pytest

from cerebro.tune.plots import best_epoch, grid_shape, plot_history
from cerebro.tune.result import ModelSelectionResult


class _Model:
    def __init__(self, model_id: str, history: dict):
        self.model_id, self.history, self.params = model_id, history, {}


def _result(n_models: int = 3, metrics=("val_accuracy", "train_accuracy", "val_loss",
                                         "train_loss"), epochs: int = 5):
    models = {}
    for i in range(n_models):
        h = {m: [0.1 * i + 0.05 * e + (0.0 if "acc" in m else 1.0) for e in range(epochs)]
             for m in metrics}
        models[f"t{i:02d}"] = _Model(f"t{i:02d}", h)
    best = models[f"t{n_models - 1:02d}"]
    return ModelSelectionResult(best, best.history, models, [], evaluation_metric="accuracy")


@pytest.mark.parametrize("n,shape", [(1, (1, 1)), (2, (1, 2)), (3, (1, 3)), (4, (2, 2)),
                                     (5, (2, 3)), (7, (3, 3)), (10, (4, 3))])
def test_grid_shape_reads_well_at_any_number_of_metrics(n, shape):
    assert grid_shape(n) == shape


def test_every_panel_has_its_legend_and_integer_epochs(tmp_path):
    import matplotlib

    names = ["val_accuracy", "train_accuracy", "val_loss", "train_loss", "val_auc"]
    result = _result(4, names, epochs=7)
    fig = plot_history(result, metrics=names)
    try:
        axes = [a for a in fig.axes if a.get_title()]
        assert [a.get_title() for a in axes] == names
        geometry = {a.get_subplotspec().get_geometry()[:2] for a in axes}
        assert geometry == {(2, 3)}
        for ax in axes:
            assert ax.get_legend() is not None
            labels = [t.get_text() for t in ax.get_legend().get_texts()]
            assert "t03 (best)" in labels and len(labels) == 4
            ticks = [t for t in ax.get_xticks() if 1 <= t <= 7]
            assert ticks and all(float(t).is_integer() for t in ticks)
    finally:
        matplotlib.pyplot.close(fig)
    out = result.plot_history(str(tmp_path / "h.png"))  # default metrics, saved as PNG
    assert out.endswith("h.png") and (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"


def test_best_epoch_is_keras_tuners():
    assert best_epoch([0.5, 0.7, 0.7, 0.6], "val_accuracy") == 2
    assert best_epoch([0.5, 0.3, None, 0.3], "val_loss") == 2
    assert best_epoch([None], "val_loss") is None
