"""RandomSearch and TPESearch end to end, hp_loguniform's bounds, and ModelSelectionResult."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cerebro.backend import SparkBackend
from cerebro.tune import TPESearch, hp_choice, hp_loguniform
from cerebro.tune.result import is_maximized
from cerebro.tune.searchers import RandomSearcher, TPESearcher
from cerebro.tune.space import sample_point

from .helpers import estimator_fn

LR_SPACE = {"lr": hp_loguniform(-4, -1), "units": hp_choice([16, 32])}


def _final(model, key):
    return model.history[key][-1]


def _in_bounds(lrs):
    return all(1e-4 <= lr <= 1e-1 for lr in lrs)


def test_loguniform_bounds_are_base10_exponents_in_random_sampling():
    rng = np.random.default_rng(0)
    lrs = [sample_point(LR_SPACE, rng)["lr"] for _ in range(500)]
    lrs += [RandomSearcher(LR_SPACE, 1, seed).ask()[1]["lr"] for seed in range(50)]
    assert _in_bounds(lrs)
    # Natural-log bounds would give e^-4..e^-1 = 0.018..0.37: check the low decades are used.
    assert min(lrs) < 3e-4 and max(lrs) > 3e-2
    exponents = np.log10(lrs[:500])
    assert abs(exponents.mean() - (-2.5)) < 0.15, "uniform in the exponent"


def test_loguniform_bounds_through_tpe():
    searcher = TPESearcher(LR_SPACE, num_models=40, seed=0)
    lrs = []
    while (point := searcher.ask()) is not None:
        point_id, params = point
        lrs.append(params["lr"])
        assert params["units"] in (16, 32)
        # Past hyperopt's 20 random start-up points TPE models this loss, centred on 1e-2.
        searcher.tell(point_id, abs(math.log10(params["lr"]) + 2.0))
    assert len(lrs) == 40 and _in_bounds(lrs)
    assert min(lrs) < 1e-3, "TPE must explore below e^-4 = 0.018 too"
    late = np.log10(lrs[25:])
    assert np.median(np.abs(late + 2.0)) < np.median(np.abs(np.log10(lrs[:20]) + 2.0))


@pytest.mark.parametrize("metric,maximized", [
    ("accuracy", True), ("val_accuracy", True), ("sparse_categorical_accuracy", True),
    ("auc", True), ("precision", True), ("recall", True), ("f1_score", True), ("r2_score", True),
    ("loss", False), ("val_loss", False), ("mean_squared_error", False), ("mae", False),
    ("sparse_categorical_crossentropy", False), ("hinge", False),
])
def test_is_maximized(metric, maximized):
    assert is_maximized(metric) is maximized


def test_random_search_minimises_the_loss(random_search):
    result, _, _ = random_search
    models = result.models
    assert len(models) == 3 and set(result.statuses.values()) == {"DONE"}
    assert all(len(m.history["val_loss"]) == 2 for m in models.values())
    assert _in_bounds([m.params["lr"] for m in models.values()])
    assert len({m.params["lr"] for m in models.values()}) == 3
    best = result.get_best_model()
    assert _final(best, "val_loss") == min(_final(m, "val_loss") for m in models.values())
    assert _final(best, "val_loss") < max(_final(m, "val_loss") for m in models.values())


def test_result_api(random_search):
    result, _, _ = random_search
    best = result.get_best_model()
    models = result.models
    assert best.model_id in models and models[best.model_id] is best
    assert result.get_best_model_history() == best.history
    assert result.get_all_model_history() == {mid: m.history for mid, m in models.items()}
    table = result.to_pandas()
    assert len(table) == 3 and set(table["model_id"]) == set(models)
    assert list(table["val_loss"]) == sorted(table["val_loss"]), "best (lowest loss) first"
    assert table["model_id"].iloc[0] == best.model_id
    assert set(table["status"]) == {"DONE"} and set(table["epochs"]) == {2}
    for _, row in table.iterrows():
        assert row["param_lr"] == models[row["model_id"]].params["lr"]
        assert row["val_accuracy"] == _final(models[row["model_id"]], "val_accuracy")


def test_transform_matches_keras_predict(random_search, small_mnist, spark):
    from pyspark.ml.linalg import Vectors

    result, _, _ = random_search
    x = small_mnist[1][0][:50]
    df = spark.createDataFrame([(i, Vectors.dense(x[i].tolist())) for i in range(len(x))],
                               ["id", "features"]).repartition(3)
    out = result.transform(df)
    assert out.columns == ["id", "features"] + result.output_columns
    assert result.output_columns == ["label__output"]
    rows = sorted(out.select("id", "label__output").collect(), key=lambda r: r["id"])
    got = np.array([r["label__output"] for r in rows], np.float32)
    want = result.get_best_model().keras().predict(x, verbose=0)
    assert got.shape == (50, 10)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    other = next(m for m in result.models.values() if m is not result.get_best_model())
    assert not np.allclose(got, other.keras().predict(x, verbose=0), atol=1e-3)


def test_plot_history_writes_a_png(random_search, tmp_path):
    result, _, _ = random_search
    path = result.plot_history(str(tmp_path / "history.png"))
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


@pytest.mark.slow
def test_tpe_search_maximises_accuracy(spark, small_mnist, tmp_path):
    """Two models at a time: each finished model is told to TPE before the next is asked."""
    from cerebro.storage import LocalStore

    backend = SparkBackend(spark.sparkContext, num_workers=2, verbose=0)
    search = TPESearch(backend, LocalStore(str(tmp_path / "store")), estimator_fn(batch_size=64),
                       LR_SPACE, num_models=4, num_epochs=1, evaluation_metric="accuracy",
                       validation="is_val", verbose=0, seed=3, parallelism=2)
    result = search.fit(small_mnist[0])
    models = result.models
    assert len(models) == 4 and set(result.statuses.values()) == {"DONE"}
    assert _in_bounds([m.params["lr"] for m in models.values()])
    assert is_maximized(result.evaluation_metric)
    best = result.get_best_model()
    finals = [_final(m, "val_accuracy") for m in models.values()]
    assert _final(best, "val_accuracy") == max(finals)
    assert result.to_pandas()["model_id"].iloc[0] == best.model_id
