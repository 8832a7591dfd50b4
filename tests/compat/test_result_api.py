"""``ModelSelectionResult`` and ``SparkModel`` in upstream's shapes (no Spark: models built here)."""

from __future__ import annotations

import numpy as np
import pytest


def _spark_model(model_id: str, val_loss: list[float], seed: int):
    import keras

    from cerebro.keras import SparkModel
    from cerebro.keras import state as state_mod

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    spec = state_mod.model_to_bytes(model)
    history = {"train_loss": [v + 0.1 for v in val_loss], "val_loss": val_loss}
    return SparkModel(model_id, spec, None, history, ["features"], ["label"], [(3,)],
                      params={"lr": 0.1 * seed})


@pytest.fixture
def result():
    from cerebro.tune import ModelSelectionResult

    models = {"s_000": _spark_model("s_000", [0.9, 0.5], 1),
              "s_001": _spark_model("s_001", [0.8, 0.7], 2)}
    best = models["s_000"]
    # the searches' call: the best model's history and a dict of models
    return ModelSelectionResult(best, best.history, models, best.output_names,
                                evaluation_metric="loss", statuses={"s_000": "DONE"})


def test_upstream_shapes(result):
    models = result.get_all_models()
    assert isinstance(models, list) and [m.model_id for m in models] == ["s_000", "s_001"]
    assert result.all_models == models
    # upstream: ``metrics`` is every model's history keyed by model id
    assert result.metrics == {"s_000": models[0].history, "s_001": models[1].history}
    assert result.get_all_model_history() == result.metrics
    assert result.get_history() == result.get_best_model_history() == {
        "train_loss": [1.0, 0.6], "val_loss": [0.9, 0.5]}
    assert result.get_best_model().getHistory() is models[0].history


def test_project_additions(result):
    assert result.models["s_001"].model_id == "s_001"
    assert result.get_model("s_001") is result.models["s_001"]
    with pytest.raises(KeyError, match="no model 'nope'; the models are"):
        result.get_model("nope")
    assert list(result.to_pandas()["model_id"]) == ["s_000", "s_001"]


def test_list_of_models_is_accepted_too():
    from cerebro.tune import ModelSelectionResult

    a, b = _spark_model("a", [1.0], 1), _spark_model("b", [2.0], 2)
    res = ModelSelectionResult(a, {"a": a.history, "b": b.history}, [a, b], ["label__output"])
    assert res.get_all_models() == [a, b] and set(res.metrics) == {"a", "b"}
    with pytest.raises(ValueError, match="not among all_models"):
        ModelSelectionResult(_spark_model("c", [1.0], 3), {}, [a, b], [])


def test_set_output_columns_names_every_model_and_chains(result):
    assert result.output_columns == ["label__output"]
    assert result.set_output_columns(["label_predicted"]) is result
    assert result.output_columns == ["label_predicted"]
    assert all(m.getOutputCols() == ["label_predicted"] for m in result.get_all_models())
    with pytest.raises(ValueError, match=r"has 1 output\(s\)"):
        result.set_output_columns(["a", "b"])
    with pytest.raises(TypeError, match="list of str"):
        result.get_best_model().setOutputCols("label_predicted")


def test_keras_is_the_best_model(result):
    import keras

    k = result.keras()
    assert isinstance(k, keras.Model) and k is result.get_best_model().keras()
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(result.get_best_model().predict(x), k.predict(x, verbose=0))
    assert not np.allclose(result.get_all_models()[1].keras().predict(x, verbose=0),
                           k.predict(x, verbose=0))


def test_spark_model_accessors_and_alias(result):
    from cerebro.keras import CerebroModel, SparkModel

    m = result.get_best_model()
    assert CerebroModel is SparkModel and isinstance(m, CerebroModel)
    assert m.getRunId() == "s_000" and m.getFeatureColumns() == ["features"]
    assert m.getLabelColumns() == ["label"] and m.getCustomObjects() == {}
    assert m.getModel() is m.keras()
    assert m.set_output_columns(["p"]) is m and m.getOutputCols() == ["p"]
    assert m.output_widths() == [2]
    assert m.setCustomObjects({"f": abs}) is m and m.getCustomObjects() == {"f": abs}
