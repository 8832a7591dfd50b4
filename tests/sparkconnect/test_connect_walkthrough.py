"""The seed's walk-through, small, on a Spark Connect session against a local Connect server
the test starts (``conftest.py``), end to end: data preparation, search, evaluate, predict; and
the same walk-through on the classic session with the same seed, for comparison.

The Connect client runs in its own process (``walk.py``): pyspark makes a process either a
classic or a Connect client. Two trials on two workers each visit both partitions once, in
an order fixed by the schedule (trial 0 starts on partition 0, trial 1 on partition 1), so
both runs train the same models on the same shards in the same order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .walk import TRIALS, run

pytestmark = pytest.mark.slow

ROWS = 1500


@pytest.fixture(scope="module")
def libsvm(mnist_arrays, tmp_path_factory) -> str:
    from nas.helpers import write_libsvm

    path = tmp_path_factory.mktemp("connect-data") / "mnist.scale"
    x, y = mnist_arrays
    write_libsvm(path, x[:ROWS], y[:ROWS])
    return str(path)


@pytest.fixture(scope="module")
def on_connect(connect_server, libsvm, tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("connect-walk")
    script = Path(__file__).with_name("walk.py")
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    done = subprocess.run([sys.executable, str(script), connect_server, libsvm, str(work)],
                          env=env, capture_output=True, text=True, timeout=600)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-4000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="module")
def on_classic(spark, libsvm, tmp_path_factory) -> dict:
    return run(spark, libsvm, str(tmp_path_factory.mktemp("classic-walk")), checks=False)


def test_walkthrough_runs_end_to_end_on_connect(on_connect):
    out = on_connect
    assert out["backend"] == {"connect": True, "master": "local[2]", "local": True,
                              "workers": 2}
    assert out["trials"] == TRIALS and len(out["val_accuracy"]) == TRIALS
    assert all(len(v) == 1 for v in out["val_accuracy"].values())
    assert out["best_val_accuracy"] == max(v[-1] for v in out["val_accuracy"].values())
    assert out["best_val_accuracy"] >= 0.7
    assert out["predict_rows"] == out["test_rows"] > 0
    assert out["argmax_agrees"] and out["probs_sum_to_one"]
    # evaluate() is a row-weighted mean over partitions: exactly predict()'s accuracy.
    assert out["evaluate"]["accuracy"] == pytest.approx(out["predict_accuracy"], abs=1e-6)
    assert out["numpy_predict_agrees"]
    assert {"loss", "accuracy"} <= set(out["pandas_evaluate"])


def test_a_worker_restarts_alone_on_connect(on_connect):
    """Worker 0's job is cancelled by its tag and started again; worker 1 keeps its process
    and connection."""
    restart = on_connect["restart"]
    assert restart["worker_up"] == [0]
    assert restart["old_job_ended"] and restart["other_kept"]


def test_a_tagged_job_is_cancelled_on_connect(on_connect):
    """What stops a hung worker: its job's tag is interrupted and its task ends at once."""
    cancel = on_connect["cancel"]
    assert cancel["ended"] and cancel["seconds"] < 30
    assert "cancel" in cancel["error"].lower(), cancel["error"]


def test_more_workers_than_slots_are_refused_on_connect(on_connect):
    assert "num_workers=3" in on_connect["too_many_workers"]
    assert "only 2 task(s) at once (master 'local[2]'" in on_connect["too_many_workers"]


def test_connect_reaches_the_classic_accuracy(on_connect, on_classic):
    assert on_classic["backend"]["connect"] is False
    assert on_connect["best_val_accuracy"] == pytest.approx(on_classic["best_val_accuracy"],
                                                            abs=0.01)
    for trial, accs in on_classic["val_accuracy"].items():
        assert on_connect["val_accuracy"][trial] == pytest.approx(accs, abs=0.01), trial
    assert on_connect["evaluate"]["accuracy"] == pytest.approx(
        on_classic["evaluate"]["accuracy"], abs=0.01)
