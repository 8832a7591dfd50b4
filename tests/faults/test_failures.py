"""Failing trials, NaN losses and a wrong control-channel secret, against a real search."""

from __future__ import annotations

import threading
import time
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client

import numpy as np
import psutil
import pytest

from frames import make_vector_df


@pytest.fixture(scope="module")
def digits(spark):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return make_vector_df(spark, (x / 16.0)[:900], y[:900], val_fraction=0.2)


def _grid(spark, store, space, gen, epochs=1, verbose=0):
    from cerebro.backend import SparkBackend
    from cerebro.tune import GridSearch

    return GridSearch(SparkBackend(spark.sparkContext, num_workers=2), store, gen, space,
                      num_epochs=epochs, evaluation_metric="accuracy", validation="is_val",
                      feature_columns=["features"], label_columns=["label"], verbose=verbose)


def _mlp(params):
    import keras

    from cerebro.keras import SparkEstimator

    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    return SparkEstimator(model, keras.optimizers.SGD(params["lr"]),
                          "sparse_categorical_crossentropy", ["accuracy"], batch_size=16)


def test_nan_loss_fails_that_model_only(spark, store, digits):
    from cerebro.tune import hp_choice

    from cerebro.storage.layout import RunLayout

    search = _grid(spark, store, {"lr": hp_choice([0.05, 1e30])}, _mlp, epochs=2)
    result = search.fit(digits)
    failed = [m for m, s in result.statuses.items() if s == "FAILED"]
    assert len(failed) == 1
    assert "non-finite" in result.errors[failed[0]]
    ok = [m for m in result.statuses if m not in failed]
    assert len(result.get_all_model_history()[ok[0]]["val_accuracy"]) == 2
    assert result.get_best_model().model_id == ok[0]
    assert store.read_json(RunLayout(store, search.project_name).log_key(failed[0]))["status"] \
        == "FAILED"


def _listening_ports() -> list[int]:
    me = psutil.Process()
    return sorted({c.laddr.port for c in me.net_connections(kind="tcp")
                   if c.status == psutil.CONN_LISTEN and c.laddr.ip == "127.0.0.1"})


@pytest.mark.slow
def test_wrong_secret_is_refused_while_a_search_runs(spark, store, digits):
    from cerebro.tune import hp_choice

    before = set(_listening_ports())
    search = _grid(spark, store, {"lr": hp_choice([0.05, 0.1, 0.2, 0.3])}, _mlp, epochs=3)
    out: dict = {}
    thread = threading.Thread(target=lambda: out.setdefault("result", search.fit(digits)))
    thread.start()
    refused = 0
    deadline = time.monotonic() + 300
    while thread.is_alive() and not refused and time.monotonic() < deadline:
        for port in set(_listening_ports()) - before:
            try:
                Client(("127.0.0.1", port), authkey=b"not the secret").close()
            except AuthenticationError:
                refused += 1
            except (OSError, EOFError):
                pass
        time.sleep(0.2)
    thread.join(600)
    assert refused >= 1, "no control channel refused the wrong secret"
    result = out["result"]  # the search was not disturbed
    assert all(len(h["val_loss"]) == 3 for h in result.get_all_model_history().values())
    assert all(s == "DONE" for s in result.statuses.values())


@pytest.mark.slow
def test_a_trial_whose_build_raises_is_failed_and_the_search_goes_on(spark, store, digits):
    import autokeras as ak
    import keras_tuner as kt

    from cerebro.backend import SparkBackend
    from cerebro.nas import HyperHyperModel

    class Fragile(ak.DenseBlock):
        """A block that cannot be built when its hyperparameter ``explode`` is True."""

        def build(self, hp, inputs=None):
            if hp.Boolean("explode", default=False):
                raise ValueError("this architecture cannot be built")
            return super().build(hp, inputs)

    inp = ak.StructuredDataInput()
    am = HyperHyperModel(inp, ak.ClassificationHead()(Fragile(name="fragile_1")(inp)),
                         overwrite=True, seed=3)
    am.resource_bind(SparkBackend(spark.sparkContext, num_workers=2), store, ["features"],
                     ["label"], evaluation_metric="accuracy", verbose=0)
    hp = kt.HyperParameters()  # everything fixed but "explode": the grid has two points
    for name, value in {"fragile_1/num_layers": 1, "fragile_1/units_0": 32, "fragile_1/dropout": 0.0,
                        "fragile_1/use_batchnorm": False, "classification_head_1/dropout": 0.0,
                        "optimizer": "adam", "learning_rate": 0.001}.items():
        hp.Fixed(name, value)
    am.tuner_bind("grid", hyperparameters=hp, objective="val_accuracy", max_trials=4,
                  overwrite=True)
    result = am.fit(digits.drop("is_val"), epochs=1)
    trials = am.tuner.oracle.trials.values()
    statuses = sorted(str(t.status) for t in trials)
    assert "FAILED" in statuses and "COMPLETED" in statuses, statuses
    failed = [t for t in trials if str(t.status) == "FAILED"]
    assert all("cannot be built" in (t.message or "") for t in failed)
    assert np.isfinite(result.get_best_model_history()["val_accuracy"][-1])
