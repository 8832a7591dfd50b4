"""Two inputs and two heads, all read from ONE DataFrame: digits as an image vector plus a
tabular vector; a ClassificationHead on the digit and a RegressionHead on the ink."""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import bind, digits_df, fresh_names

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fitted(spark, tmp_path_factory):
    import autokeras as ak
    from keras_tuner import HyperParameters

    from cerebro.nas import HyperHyperModel
    from cerebro.storage import LocalStore

    df = digits_df(spark).cache()
    fresh_names()
    image, table = ak.ImageInput(), ak.StructuredDataInput()
    merged = ak.Merge()([ak.ConvBlock()(image), ak.DenseBlock()(table)])
    outputs = [ak.ClassificationHead()(merged), ak.RegressionHead()(merged)]
    am = HyperHyperModel(inputs=[image, table], outputs=outputs, overwrite=True, seed=4)
    store = LocalStore(str(tmp_path_factory.mktemp("multi") / "store"))
    bind(am, spark, store, ["pixels", "tab"], ["digit", "ink"], metric="loss")
    hp = HyperParameters()
    hp.Fixed("conv_block_1/num_blocks", 1)
    hp.Fixed("conv_block_1/num_layers", 1)
    hp.Fixed("conv_block_1/filters_0_0", 16)
    hp.Fixed("dense_block_1/num_layers", 1)
    hp.Fixed("optimizer", "adam")
    hp.Fixed("learning_rate", 0.003)
    am.tuner_bind("random", hyperparameters=hp, objective="val_loss", max_trials=2,
                  overwrite=True)
    result = am.fit(df, epochs=2, input_shape={"pixels": (8, 8, 1)})
    return am, result, df


def test_both_heads_train_from_one_dataframe(fitted):
    am, result, _ = fitted
    assert len(result.get_all_models()) == 2
    for history in result.get_all_model_history().values():
        for name in ("val_loss", "val_classification_head_1_accuracy",
                     "val_regression_head_1_mean_squared_error"):
            assert len(history[name]) == 2, name
    best = result.get_best_model().history
    assert best["val_classification_head_1_accuracy"][-1] > 0.5  # 10 classes
    model = am.export_model()
    assert [tuple(t.shape[1:]) for t in model.inputs] == [(8, 8, 1), (3,)]
    assert [tuple(t.shape[1:]) for t in model.outputs] == [(10,), (1,)]


def test_predict_and_evaluate_both_heads(fitted):
    am, _, df = fitted
    sub = df.where("id < 200")
    rows = sorted(am.predict(sub).collect(), key=lambda r: r["id"])
    assert len(rows) == 200
    probs = np.array([r["digit__pred"] for r in rows])
    classes = np.array([r["digit__class"] for r in rows])
    np.testing.assert_array_equal(classes, probs.argmax(axis=1))
    digits = np.array([r["digit"] for r in rows])
    ink = np.array([r["ink"] for r in rows])
    ink_pred = np.array([r["ink__pred"] for r in rows]).reshape(-1)
    assert np.all(np.isfinite(ink_pred))

    metrics = am.evaluate(sub)
    assert metrics["classification_head_1_accuracy"] == pytest.approx(
        float((classes == digits).mean()), abs=1e-6)
    assert metrics["classification_head_1_accuracy"] > 0.5
    assert metrics["regression_head_1_mean_squared_error"] == pytest.approx(
        float(np.mean((ink_pred - ink) ** 2)), rel=1e-3)

    # numpy in (one array per input, in feature-column order), numpy out (one per head)
    pixels = np.array([r["pixels"].toArray() for r in rows[:20]], np.float32)
    tab = np.array([r["tab"].toArray() for r in rows[:20]], np.float32)
    digit_np, ink_np = am.predict([pixels, tab])
    assert isinstance(digit_np, np.ndarray) and digit_np.shape == (20,)
    np.testing.assert_array_equal(digit_np, classes[:20])
    np.testing.assert_allclose(ink_np.reshape(-1), ink_pred[:20], rtol=1e-4, atol=1e-5)
