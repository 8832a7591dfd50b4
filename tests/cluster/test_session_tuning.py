"""issue 14.3: a SparkSession built as the seed builds it gets cerebro's preloading Python
worker daemon when ``SparkBackend`` is constructed on it. Fails if Spark stops reading
``spark.python.daemon.module`` from the live configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CODE = r"""
import logging, os, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
os.environ.pop("KERAS_BACKEND", None)
from pyspark.sql import SparkSession
spark = SparkSession.builder.master("local").appName("Example") \
    .config("spark.executor.memory", "1gb").getOrCreate()
sc = spark.sparkContext
from cerebro.backend import SparkBackend
backend = SparkBackend(spark_context=sc, num_workers=1, warm_up=False)

def probe(_):
    import sys
    parent = open(f"/proc/{os.getppid()}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    yield {"parent": parent, "keras_preloaded": "keras" in sys.modules,
           "backend": os.environ.get("KERAS_BACKEND")}

import json
print("PROBE", json.dumps(sc.parallelize([0], 1).mapPartitions(probe).collect()[0]), flush=True)
spark.stop()
"""


@pytest.mark.slow
def test_seed_session_gets_the_preloading_daemon():
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable}
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    probe = json.loads(proc.stdout.split("PROBE ", 1)[1].strip())
    assert "cerebro.backend.daemon" in probe["parent"], probe
    assert probe["keras_preloaded"] and probe["backend"] == "torch", probe
    assert "started without cerebro's class archive and quick JIT" in proc.stderr
