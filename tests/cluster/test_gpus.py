"""GPU plumbing without a GPU (issue 14.5): a standalone worker advertises two fake GPUs
through a discovery script; each executor and task asks for one. Every cerebro worker must
take the distinct address Spark assigned it, set ``CUDA_VISIBLE_DEVICES`` to it, find no
usable CUDA device (this torch is the CPU build) and say, in one line, that it trains on CPU."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import cleanup, cluster_env, executor_logs, result_of, spark_submit, standalone

SCRIPT = Path(__file__).with_name("digits_search.py")
LINE = re.compile(r"cerebro worker (\d+): Spark assigned GPU address (\S+) "
                  r"\(CUDA_VISIBLE_DEVICES=(\S*)\) but torch sees no usable CUDA device; "
                  r"training on CPU with (\d+) thread\(s\)")


@pytest.mark.slow
@pytest.mark.cluster
def test_each_worker_takes_its_own_fake_gpu(tmp_path, packed_env):
    script = tmp_path / "gpus.sh"
    script.write_text('#!/bin/sh\necho \'{"name": "gpu", "addresses": ["0", "1"]}\'\n')
    script.chmod(0o755)
    env = cluster_env(tmp_path, CEREBRO_STORE=str(tmp_path / "store"))
    opts = (f"-Dspark.worker.resource.gpu.amount=2 "
            f"-Dspark.worker.resource.gpu.discoveryScript={script}")
    try:
        with standalone(tmp_path, [{"cores": 2, "memory": "2g", "opts": opts}], env) as master:
            rc, output = spark_submit(master, packed_env, SCRIPT, env,
                                      "spark.executor.cores=1", "spark.task.cpus=1",
                                      "spark.executor.resource.gpu.amount=1",
                                      "spark.task.resource.gpu.amount=1")
            assert rc == 0, output[-4000:]
            result = result_of(tmp_path, output)
            logs = executor_logs(tmp_path)
    finally:
        cleanup(tmp_path)

    assert len(logs) == 2, "two one-GPU executors on the two-GPU worker"
    seen = {}
    for text in logs:
        for m in LINE.finditer(text):
            partition, address, visible, threads = m.groups()
            # a fresh Python worker sets it; one a warm-up task already imported torch in
            # (all GPUs visible) leaves it unset and indexes by the address
            assert visible in (address, "") and threads == "1", m.group(0)
            seen[int(partition)] = address
    assert sorted(seen) == [0, 1], "\n".join(t[-1500:] for t in logs)
    assert sorted(seen.values()) == ["0", "1"], f"workers shared a GPU: {seen}"
    assert all(m["status"] == "DONE" for m in result["models"].values())
    assert len(result["models"]) == 2


def test_gpu_plan_in_a_fresh_process():
    """Without Spark: an address set before torch imports becomes CUDA_VISIBLE_DEVICES, and a
    CPU-only torch falls back to the CPU, logging the line once."""
    code = r"""
import os, sys
os.environ["KERAS_BACKEND"] = "torch"
from cerebro.backend import gpu
assert gpu.task_gpus() == ()
assert gpu.before_imports(()) == gpu.GpuPlan()
plan = gpu.before_imports(("3",))
assert plan.visible == "3" and os.environ["CUDA_VISIBLE_DEVICES"] == "3", plan
import keras
again = gpu.before_imports(("3",))   # torch imported now: left alone, index within "3"
assert again.visible is None and again.index == 0, again
device = gpu.choose_device(plan, "torch", 7, 2)
with gpu.device_scope(device):
    w = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    print("DEVICE", device, w.weights[0].value.device)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "DEVICE cpu cpu" in proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if "cerebro worker 7" in ln]
    assert len(lines) == 1 and LINE.search(lines[0]), proc.stderr[-2000:]
    assert LINE.search(lines[0]).group(4) == "2"
