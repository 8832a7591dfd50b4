"""The one Spark inference path (cerebro.keras.inference): multi-output models given as a
dict, image columns decoded in the tasks, and evaluate agreeing with Keras on the driver."""

from __future__ import annotations

import io

import numpy as np
import pytest

from cerebro.keras import inference
from cerebro.keras import state as state_mod


def _dict_model():
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((3,), name="x")
    hidden = keras.layers.Dense(4, activation="relu")(inp)
    model = keras.Model(inp, {"score": keras.layers.Dense(1, name="a")(hidden),
                              "probs": keras.layers.Dense(2, activation="softmax",
                                                          name="b")(hidden)})
    model.compile("adam", {"score": "mse", "probs": "categorical_crossentropy"})
    return model


def test_dict_output_model_gives_one_column_per_output_in_its_order(spark):
    model = _dict_model()
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    df = spark.createDataFrame([(i, x[i].tolist()) for i in range(40)], ["id", "x"])
    out = inference.transform(df, state_mod.model_to_bytes(model), None, ["x"], [(3,)],
                              ["score_pred", "probs_pred"], batch_size=16)
    rows = sorted(out.collect(), key=lambda r: r["id"])
    want = model.predict(x, verbose=0)
    np.testing.assert_allclose([r["score_pred"] for r in rows], want["score"], rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose([r["probs_pred"] for r in rows], want["probs"], rtol=1e-5,
                               atol=1e-6)


def test_evaluate_of_a_dict_output_model_matches_keras(spark):
    model = _dict_model()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    y1 = rng.normal(size=(60, 1)).astype(np.float32)
    y2 = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 60)]
    df = spark.createDataFrame([(x[i].tolist(), float(y1[i, 0]), y2[i].tolist())
                                for i in range(60)], ["x", "y1", "y2"]).repartition(3)
    got = inference.evaluate(df, state_mod.model_to_bytes(model), None,
                             [inference.InputSpec("x", (3,))], ["y1", "y2"], [(1,), (2,)],
                             [None, None], batch_size=8)
    want = model.evaluate(x, {"score": y1, "probs": y2}, verbose=0, return_dict=True)
    assert set(got) == set(want)
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-4, abs=1e-5), k


def test_image_bytes_are_decoded_in_the_tasks(spark):
    import keras
    from PIL import Image

    from cerebro.keras.estimator import SparkModel

    keras.utils.set_random_seed(0)
    inp = keras.Input((4, 4, 1))
    model = keras.Model(inp, keras.layers.Dense(1)(keras.layers.Flatten()(inp)))
    model.compile("adam", "mse")
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (10, 4, 4), dtype=np.uint8)
    blobs = []
    for p in pixels:
        buf = io.BytesIO()
        Image.fromarray(p, "L").save(buf, format="PNG")
        blobs.append(bytearray(buf.getvalue()))
    df = spark.createDataFrame([(i, blobs[i]) for i in range(10)], ["id", "content"])
    sm = SparkModel("m", state_mod.model_to_bytes(model), None, {}, ["content"], ["y"],
                    [(4, 4, 1)], output_names=["y_pred"])
    rows = sorted(sm.transform(df).collect(), key=lambda r: r["id"])
    want = model.predict(pixels.reshape(10, 4, 4, 1).astype(np.float32), verbose=0)
    # a one-unit output comes back as one number per row, as upstream Cerebro gives it
    np.testing.assert_allclose([r["y_pred"] for r in rows], want[:, 0], rtol=1e-5, atol=1e-4)
    assert rows[0]["content"] == blobs[0]  # the DataFrame's own columns pass through


def test_image_column_into_a_flat_input_is_refused_before_spark_runs(spark):
    df = spark.createDataFrame([(bytearray(b"\x89PNG\r\n\x1a\n"),)], ["content"])
    with pytest.raises(ValueError, match="image column 'content' feeds an input of shape"):
        inference.input_specs(df, ["content"], [(16,)])
