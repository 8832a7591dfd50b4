"""MLflow logging: a real GridSearch on Spark local mode logged to a local sqlite MLflow store
and read back with ``MlflowClient``; MLflow is neither imported nor needed unless asked for;
MLflow failures never stop a search. No mocks: a real MLflow store, a real search."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest

from cerebro.wire import EpochEnd, ModelAdded, ModelDone, ModelStatus

from .conftest import grid_search

EPOCHS = 2


def _run_python(code: str, **env) -> dict:
    """Runs ``code`` in a fresh interpreter (so ``sys.modules`` starts empty); its last
    stdout line is JSON."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CEREBRO_MLFLOW")}
    environ.update(env)
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=environ,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- without MLflow asked for ------------------------------------------------------------------
def test_mlflow_not_imported_unless_asked(tmp_path):
    got = _run_python(f"""
        import json, sys
        import cerebro, cerebro.records, cerebro.integrations, cerebro.tune, cerebro.nas
        from cerebro.records import record_search
        from cerebro.storage import LocalStore
        from cerebro.wire import EpochEnd, ModelAdded, ModelDone

        rec = record_search(LocalStore({str(tmp_path / "store")!r}), "s", kind="tune",
                            params=lambda m: {{"units": 8}})
        for event in (ModelAdded("m0", 1), EpochEnd("m0", 0, {{"val_loss": 1.0}}),
                      ModelDone("m0")):
            for listener in rec.listeners:
                event.deliver(listener)
        rec.done({{}})
        rec.close()
        off = record_search(LocalStore({str(tmp_path / "store")!r}), "t", records=False,
                            mlflow=False)
        print(json.dumps({{"imported": sorted(m for m in sys.modules
                                            if m == "mlflow" or m.startswith("mlflow.")),
                          "tracker": repr(rec.mlflow), "off": repr(off.mlflow)}}))
        """)
    assert got == {"imported": [], "tracker": "None", "off": "None"}
    assert not (tmp_path / "mlruns").exists()


def test_asking_without_mlflow_installed_says_how_to_install(tmp_path):
    got = _run_python(f"""
        import json, sys
        sys.modules["mlflow"] = None  # as if MLflow were not installed
        from cerebro.records import record_search
        from cerebro.storage import LocalStore

        try:
            record_search(LocalStore({str(tmp_path / "store")!r}), "s", records=False)
            print(json.dumps({{"error": None}}))
        except ImportError as e:
            print(json.dumps({{"error": str(e)}}))
        """, CEREBRO_MLFLOW="sqlite:///" + str(tmp_path / "mlflow.db"))
    assert got["error"] and "pip install 'cerebro-nas[mlflow]'" in got["error"]
    assert "CEREBRO_MLFLOW" in got["error"]


# -- settings and failures (a real sqlite store, no search) ------------------------------------
@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory):
    """One sqlite MLflow store for this module (creating its tables takes seconds)."""
    pytest.importorskip("mlflow")
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    for name in ("digits", "events"):  # artifacts under the tmp dir, not ./mlruns
        client.create_experiment(name, artifact_location=str(root / name))
    return uri


def test_settings(monkeypatch, mlflow_uri):
    from cerebro.integrations.mlflow_logger import MlflowLogger, from_setting

    monkeypatch.delenv("CEREBRO_MLFLOW", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)  # MLflow's default: never ./mlflow.db
    assert from_setting(None) is None and from_setting(False) is None
    assert from_setting("off") is None
    assert from_setting(mlflow_uri).tracking_uri == mlflow_uri
    assert from_setting(True).tracking_uri is None
    assert from_setting("on").tracking_uri is None and from_setting(" 1 ").tracking_uri is None
    logger = MlflowLogger(mlflow_uri, "events")
    assert from_setting(logger) is logger
    monkeypatch.setenv("CEREBRO_MLFLOW", mlflow_uri)
    monkeypatch.setenv("CEREBRO_MLFLOW_EXPERIMENT", "events")
    env = from_setting(None)
    assert env.tracking_uri == mlflow_uri and env.experiment_name == "events"
    assert from_setting(False) is None  # the argument wins over the environment


def test_unreachable_tracking_server_does_not_stop_a_search(monkeypatch, tmp_path, caplog):
    pytest.importorskip("mlflow")
    from cerebro.records import record_search
    from cerebro.storage import LocalStore

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with caplog.at_level(logging.WARNING, logger="cerebro.records"):
        rec = record_search(LocalStore(str(tmp_path / "store")), "s", records=False,
                            mlflow="http://127.0.0.1:9")  # the discard port: nothing listens
    assert rec.mlflow is None
    assert "MLflow logging is off for this search" in caplog.text
    assert rec.listeners == []  # records off, MLflow unreachable: nobody listens
    rec.close()


def test_mlflow_errors_mid_search_are_logged_not_raised(mlflow_uri, caplog):
    from mlflow.tracking import MlflowClient

    from cerebro.integrations.mlflow_logger import MlflowLogger

    logger = MlflowLogger(mlflow_uri, "events").start("broken", params=lambda m: {"units": 8})
    client = MlflowClient(tracking_uri=mlflow_uri)
    logger.on_model_added(ModelAdded("m0", epochs=2))
    client.delete_run(logger.run_ids["m0"])  # from now on every write to m0's run fails
    with caplog.at_level(logging.WARNING, logger="cerebro.mlflow"):
        for epoch in range(5):
            logger.on_epoch_end(EpochEnd("m0", epoch, {"val_loss": 1.0}))
        logger.on_model_done(ModelDone("m0", ModelStatus.DONE))
        logger.done({"utilisation": 0.5})
        logger.close()
    warnings = [r for r in caplog.records if r.name == "cerebro.mlflow"]
    assert len(warnings) == 4  # three failures, then it gives up (and says so once)
    assert "no more MLflow logging" in warnings[-1].getMessage()


# -- a real search ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def logged_search(spark, digits_df, mlflow_uri, tmp_path_factory):
    from cerebro.storage import LocalStore

    store = LocalStore(str(tmp_path_factory.mktemp("mlflow-search") / "store"))
    with pytest.MonkeyPatch.context() as mp:  # switched on as a user would: the environment
        mp.setenv("CEREBRO_MLFLOW", mlflow_uri)
        mp.setenv("CEREBRO_MLFLOW_EXPERIMENT", "digits")
        result = grid_search(spark, store, units=(8, 16), epochs=EPOCHS).fit(digits_df)
    return result


@pytest.mark.slow
def test_search_logged_to_mlflow(logged_search, mlflow_uri, tmp_path):
    import keras
    import numpy as np
    from mlflow.tracking import MlflowClient

    result = logged_search
    client = MlflowClient(tracking_uri=mlflow_uri)
    exp = client.get_experiment_by_name("digits")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.info.run_name.startswith("GridSearch-")
    assert parent.data.params["kind"] == "tune" and parent.data.params["metric"] == "val_accuracy"
    assert parent.data.params["num_epochs"] == str(EPOCHS)
    assert 0 < parent.data.metrics["utilisation"] <= 1

    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 2 == len(runs) - 1
    models = result.models
    by_model = {r.data.tags["cerebro.model_id"]: r for r in children}
    assert set(by_model) == set(models)
    for model_id, run in by_model.items():
        assert run.info.status == "FINISHED" and run.data.tags["cerebro.status"] == "DONE"
        assert run.data.params == {"units": str(models[model_id].params["units"])}
        for name in ("val_loss", "val_accuracy", "train_loss"):
            history = client.get_metric_history(run.info.run_id, name)
            assert [m.step for m in sorted(history, key=lambda m: m.step)] == [1, 2]
            values = [m.value for m in sorted(history, key=lambda m: m.step)]
            assert values == pytest.approx(models[model_id].history[name])

    best = result.get_best_model()
    best_run = by_model[best.model_id]
    assert parent.data.tags["cerebro.best_model_id"] == best.model_id
    assert parent.data.tags["cerebro.best_run_id"] == best_run.info.run_id
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(
        best.history["val_accuracy"][-1])
    artifacts = [f.path for f in client.list_artifacts(best_run.info.run_id, "model")]
    assert artifacts == [f"model/{best.model_id}.keras"]
    other = next(r for m, r in by_model.items() if m != best.model_id)
    assert client.list_artifacts(other.info.run_id, "model") == []

    path = client.download_artifacts(best_run.info.run_id, artifacts[0], str(tmp_path))
    loaded = keras.models.load_model(path)
    x = np.random.default_rng(0).random((5, 64)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), best.predict(x), rtol=1e-5,
                               atol=1e-6)
