"""A real Spark standalone cluster on 127.0.0.1: one master, two one-core workers.

The search runs in a separate Python process (this one already has a local-mode
SparkContext, and a process can hold only one). Every process started here is killed in a
``finally`` block, together with its children (executors, Python workers).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

REPO = Path(__file__).resolve().parents[2]

DRIVER = r'''
import json, os, sys, time
T0 = time.monotonic()
import numpy as np
from pyspark.sql import SparkSession

spark = (SparkSession.builder.master(os.environ["MASTER_URL"]).appName("cerebro-cluster-test")
         .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
         .config("spark.driver.bindAddress", "127.0.0.1").config("spark.executor.memory", "512m")
         .config("spark.executorEnv.PYTHONPATH", os.environ["PYTHONPATH"])
         .config("spark.sql.shuffle.partitions", "2").getOrCreate())
print("session %.1f" % (time.monotonic() - T0), flush=True)
import keras
from cerebro.backend import SparkBackend
from cerebro.keras import SparkEstimator
from cerebro.storage import LocalStore
from cerebro.storage.layout import RunLayout
from cerebro.tune import GridSearch, hp_choice

rng = np.random.default_rng(0)
x = rng.normal(size=(400, 8))
y = (x[:, 0] + x[:, 1] > 0).astype(int)
df = spark.createDataFrame([(x[i].tolist(), int(y[i])) for i in range(len(x))],
                           ["features", "label"])

def gen(params):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(params["units"], activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    return SparkEstimator(model, keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy",
                          ["accuracy"], batch_size=16)

store = LocalStore(os.environ["STORE"])
backend = SparkBackend(spark.sparkContext, num_workers=2, start_timeout=240, verbose=0)
result = GridSearch(backend, store, gen, {"units": hp_choice([4, 8])}, num_epochs=2,
                    evaluation_metric="accuracy", verbose=0, project_name="cluster").fit(df)
layout = RunLayout(store, "cluster")
out = {mid: {"history": m.history, "status": result.statuses[mid],
             "visit_log": store.read_json(layout.log_key(mid))["visit_log"]}
       for mid, m in result.models.items()}
print("search %.1f (workers started in %.1f s)" % (time.monotonic() - T0, result.stats["start_s"]))
executors = spark.sparkContext._jsc.sc().statusTracker().getExecutorInfos()
with open(os.environ["RESULT"], "w") as f:  # a file: JVM log lines share stdout's pipe
    json.dump({"models": out, "master": spark.sparkContext.master,
               "executors": len(executors) - 1}, f)
spark.stop()
print("stopped %.1f" % (time.monotonic() - T0), flush=True)
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _master_state(webui: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{webui}/json/", timeout=2) as r:
        return json.load(r)


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def _kill_all(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each process group (JVM plus executors and Python workers), then SIGKILL."""

    def group_gone(p: subprocess.Popen) -> bool:
        p.poll()  # reap the leader, or its zombie keeps the group alive
        try:
            os.killpg(p.pid, 0)
            return False
        except ProcessLookupError:
            return True

    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        for p in procs:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
        if _wait(lambda: all(group_gone(p) for p in procs), grace):
            return
    raise RuntimeError(f"processes left behind: {[p.args for p in procs if not group_gone(p)]}")


def test_search_on_a_standalone_cluster(tmp_path):
    import pyspark

    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable, SPARK_WORKER_DIR=str(tmp_path / "work"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "torch"))
    port, webui = _free_port(), _free_port()
    procs: list[subprocess.Popen] = []
    logs = []

    def start(name, *args):
        log = open(tmp_path / f"{name}.log", "wb")
        logs.append(log)
        procs.append(subprocess.Popen([str(spark_class), *args], env=env, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True))

    started = time.monotonic()
    try:
        start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
              "--port", str(port), "--webui-port", str(webui))
        if not _wait(lambda: _master_state(webui)["status"] == "ALIVE", 90):
            tail = (tmp_path / "master.log").read_text(errors="replace")[-2000:]
            pytest.skip(f"the Spark standalone master did not start on 127.0.0.1:{port}:\n{tail}")
        master = f"spark://127.0.0.1:{port}"
        for i in range(2):
            start(f"worker{i}", "org.apache.spark.deploy.worker.Worker", master, "--cores", "1",
                  "--memory", "1g", "--host", "127.0.0.1", "--webui-port", str(_free_port()))
        assert _wait(lambda: _master_state(webui)["aliveworkers"] == 2, 120), \
            (tmp_path / "worker0.log").read_text(errors="replace")[-2000:]
        assert _master_state(webui)["cores"] == 2
        cluster_s = time.monotonic() - started

        script = tmp_path / "driver.py"
        script.write_text(DRIVER)
        driver = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, start_new_session=True, text=True,
                                  env=dict(env, MASTER_URL=master, STORE=str(tmp_path / "store"),
                                           RESULT=str(tmp_path / "result.json")))
        procs.append(driver)
        output, _ = driver.communicate(timeout=420)
        assert driver.returncode == 0 and (tmp_path / "result.json").exists(), output[-4000:]
        result = json.loads((tmp_path / "result.json").read_text())
        print(f"cluster up in {cluster_s:.1f} s; driver: " + "; ".join(
            ln for ln in output.splitlines() if ln.startswith(("session", "search", "stopped"))))
    finally:
        _kill_all(procs)
        for log in logs:
            log.close()

    assert result["master"] == master and result["executors"] == 2
    models = result["models"]
    assert len(models) == 2
    for mid, model in models.items():
        assert model["status"] == "DONE"
        assert {k: len(v) for k, v in model["history"].items()} == {
            "train_loss": 2, "val_loss": 2, "train_accuracy": 2, "val_accuracy": 2}, mid
        assert sorted(model["visit_log"]) == ["0", "1"]
        assert all(sorted(p) == [0, 1] for p in model["visit_log"].values()), model["visit_log"]
