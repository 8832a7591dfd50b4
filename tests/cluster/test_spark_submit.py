"""docs/cluster.md followed step by step on a standalone cluster on 127.0.0.1: the venv
packed with venv-pack, ``spark-submit --archives cerebro_env.tar.gz#env`` of a user script,
executors on ``./env/bin/python``. Asserts the executors ran from the unpacked archive (not
this venv, not this checkout) and that the search completed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from .conftest import (REPO, cleanup, cluster_env, executor_logs, result_of, spark_submit,
                       standalone)

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

SCRIPT = Path(__file__).with_name("digits_search.py")


def test_spark_submit_with_a_packed_environment(tmp_path, packed_env):
    env = cluster_env(tmp_path, CEREBRO_STORE=str(tmp_path / "store"))
    try:
        with standalone(tmp_path, [{"cores": 1, "memory": "1g"}] * 2, env) as master:
            rc, output = spark_submit(master, packed_env, SCRIPT, env,
                                      "spark.task.cpus=1", "spark.executor.cores=1")
            assert rc == 0, output[-4000:]
            result = result_of(tmp_path, output)
            logs = executor_logs(tmp_path)
    finally:
        cleanup(tmp_path)
    print(f"venv made in {packed_env['made_s']:.1f} s, packed "
          f"({packed_env['bytes'] / 2**30:.1f} GiB) in {packed_env['pack_s']:.1f} s; "
          f"search script {result['search_s']:.1f} s (workers started in {result['start_s']:.1f} s)")

    assert len(logs) == 2, "two executors, one per standalone worker"
    work = str(tmp_path / "work")
    venv, checkout = os.path.realpath(sys.prefix), str(REPO)
    for e in result["executors"]:
        # ./env/bin/python in the executor's directory: Spark unpacked the archive there
        assert e["executable"].startswith(work) and e["executable"].endswith("/env/bin/python"), e
        assert e["prefix"].startswith(work) and e["prefix"].endswith("/env"), e
        for module in ("keras", "torch"):
            assert os.path.realpath(e[module]).startswith(os.path.realpath(e["prefix"])), e
            assert not os.path.realpath(e[module]).startswith(venv), e
        assert "cerebro.zip" in e["cerebro"] and not e["cerebro"].startswith(checkout), e
    assert result["driver_prefix"] == sys.prefix
    models = result["models"]
    assert len(models) == 2
    for mid, model in models.items():
        assert model["status"] == "DONE", mid
        assert len(model["history"]["val_accuracy"]) == 2, mid
    assert max(m["history"]["val_accuracy"][-1] for m in models.values()) > 0.5
