"""Data preparation on a table bigger than the driver's heap, in a user's own session.

Spark's default driver heap is 1 GB, and in local mode the driver JVM is the executor. The
preparation's one pass over the user's plan used to cache the DataFrame in that heap, and a
4M x 32 table (1 GB of Parquet) ran it out of memory (``java.lang.OutOfMemoryError``). The
pass now holds it on disk. Its own process: its own session with the default heap.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = r"""
import sys
from pyspark.sql import SparkSession, functions as F
from cerebro.data import prepare_data
from cerebro.storage import LocalStore

work, rows, cols = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false").getOrCreate())
spark.range(rows, numPartitions=8).select(
    *[F.rand(i).alias(f"f{i}") for i in range(cols)],
    (F.rand(99) * 2).cast("int").alias("label")).write.parquet(work + "/src")
info = prepare_data(LocalStore(work + "/store"), spark.read.parquet(work + "/src"),
                    [f"f{i}" for i in range(cols)], ["label"], 2, validation=0.2)
print("ROWS", sum(info.train.rows) + sum(info.val.rows), flush=True)
"""


def test_a_table_bigger_than_the_default_driver_heap_is_prepared(tmp_path):
    rows = 4_000_000
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), str(rows), "32"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"ROWS {rows}" in proc.stdout
