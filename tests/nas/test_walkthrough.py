"""The seed's walk-through, end to end: MNIST as a LIBSVM file, one-hot labels, a greedy
search of a ConvBlock graph on two Spark workers, then export, evaluate and predict."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys

import numpy as np
import pytest

from .helpers import fresh_names, trial_values, write_libsvm

pytestmark = pytest.mark.slow

ROWS = 3000
LR = 0.001


@pytest.fixture(scope="module")
def walk(spark, mnist_arrays, tmp_path_factory):
    import autokeras as ak
    from keras_tuner import HyperParameters
    from pyspark.ml.feature import OneHotEncoder

    from cerebro.backend import SparkBackend
    from cerebro.nas.hphpmodel import HyperHyperModel
    from cerebro.storage import LocalStore

    work = tmp_path_factory.mktemp("walk")
    x, y = mnist_arrays
    write_libsvm(work / "mnist.scale", x[:ROWS], y[:ROWS])
    df = spark.read.format("libsvm").option("numFeatures", "784").load(str(work / "mnist.scale"))
    encoder = OneHotEncoder(dropLast=False)
    encoder.setInputCols(["label"])
    encoder.setOutputCols(["label_OHE"])
    encoded = encoder.fit(df).transform(df)
    train_df, test_df = encoded.randomSplit([0.8, 0.2], seed=100)

    fresh_names()
    input_node = ak.ImageInput()
    output_node = ak.Normalization()(input_node)
    output_node = ak.ConvBlock()(output_node)
    output_node = ak.ClassificationHead()(output_node)
    am = HyperHyperModel(inputs=input_node, outputs=output_node, overwrite=True,
                         max_trials=1000, seed=1)
    am.resource_bind(backend=SparkBackend(spark_context=spark.sparkContext, num_workers=2),
                     store=LocalStore(str(work / "store")), feature_columns=["features"],
                     label_columns=["label_OHE"], evaluation_metric="accuracy", verbose=0)
    hp = HyperParameters()
    hp.Fixed("learning_rate", value=LR)
    # Size constraints, so that every trial is a small, fast convnet.
    hp.Fixed("conv_block_1/num_blocks", 1)
    hp.Fixed("conv_block_1/max_pooling", True)
    hp.Choice("conv_block_1/num_layers", [1, 2], default=1)
    hp.Choice("conv_block_1/filters_0_0", [16, 32], default=32)
    hp.Choice("conv_block_1/filters_0_1", [16, 32], default=16)
    hp.Choice("optimizer", ["adam", "adam_weight_decay"])  # plain SGD is too slow for 2 epochs
    am.tuner_bind("greedy", hyperparameters=hp, objective="val_accuracy", max_trials=4,
                  overwrite=True, exploration=0.3)
    result = am.fit(train_df, epochs=2, input_shape=(28, 28, 1))
    return dict(am=am, result=result, test_df=test_df.cache(), work=work)


def test_four_trials_each_trained_two_epochs(walk):
    am, result = walk["am"], walk["result"]
    assert len(am.tuner.oracle.trials) == 4
    histories = result.get_all_model_history()
    assert len(histories) == 4
    for model_id, history in histories.items():
        # early stopping is on by default (median rule): a trial below the others' median
        # after epoch 1 stops there, with its reason; every other trial trains both epochs
        epochs = 1 if result.statuses[model_id] == "STOPPED" else 2
        assert len(history["val_accuracy"]) == epochs and len(history["train_loss"]) == epochs
        if epochs == 1:
            assert result.stop_reasons[model_id].startswith("median stopping rule")
    best = result.get_best_model().history["val_accuracy"][-1]
    assert best == max(h["val_accuracy"][-1] for h in histories.values())
    assert best >= 0.85


def test_fixed_learning_rate_in_every_trial(walk):
    am = walk["am"]
    for values in trial_values(am):
        assert values["learning_rate"] == LR
        assert values["conv_block_1/num_blocks"] == 1
    model = am.export_model()
    assert float(model.optimizer.learning_rate) == pytest.approx(LR)


LOAD_SCRIPT = """
import sys, numpy as np, keras
model = keras.models.load_model(sys.argv[1])
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("autokeras", "cerebro"))
assert not leaked, leaked
"""


def test_exported_model_loads_without_autokeras_or_custom_objects(walk, mnist_arrays):
    import keras

    work = walk["work"]
    model = walk["am"].export_model()
    assert isinstance(model, keras.Model)
    path = str(work / "best.keras")
    model.save(path)
    x = mnist_arrays[0][ROWS:ROWS + 64].reshape(-1, 28, 28, 1)
    np.save(work / "x.npy", x)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["KERAS_BACKEND"] = "torch"
    done = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, path, str(work / "x.npy"),
                           str(work / "y.npy")], env=env, cwd=str(work), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_allclose(np.load(work / "y.npy"), model.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)


def test_evaluate_and_predict_on_a_dataframe_agree(walk):
    from pyspark.sql import DataFrame

    am, test_df = walk["am"], walk["test_df"]
    metrics = am.evaluate(test_df)
    assert {"loss", "accuracy"} <= set(metrics)
    assert metrics["accuracy"] >= 0.8

    pred = am.predict(test_df)
    assert isinstance(pred, DataFrame)
    assert {"label_OHE__pred", "label_OHE__class"} <= set(pred.columns)
    rows = pred.select("label", "label_OHE__pred", "label_OHE__class").collect()
    assert len(rows) == test_df.count()
    probs = np.array([r["label_OHE__pred"] for r in rows])
    classes = np.array([r["label_OHE__class"] for r in rows])
    assert probs.shape == (len(rows), 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_array_equal(classes, probs.argmax(axis=1))
    labels = np.array([r["label"] for r in rows])
    # evaluate() is a row-weighted mean over partitions: exactly predict()'s accuracy.
    assert metrics["accuracy"] == pytest.approx(float((classes == labels).mean()), abs=1e-6)


def test_predict_on_numpy_returns_numpy(walk, mnist_arrays):
    am = walk["am"]
    x = mnist_arrays[0][ROWS:ROWS + 100]
    classes = am.predict(x)
    assert isinstance(classes, np.ndarray) and classes.shape == (100,)
    expected = am.export_model().predict(x.reshape(-1, 28, 28, 1), verbose=0).argmax(axis=1)
    np.testing.assert_array_equal(classes, expected)
    assert (classes == mnist_arrays[1][ROWS:ROWS + 100]).mean() >= 0.8


def test_summaries_print_the_search_space_and_results(walk):
    tuner = walk["am"].tuner
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tuner.search_space_summary()
        tuner.results_summary()
    text = out.getvalue()
    assert "learning_rate" in text and "conv_block_1/kernel_size" in text
    assert "Results summary" in text and "val_accuracy" in text
