"""Fixtures of the upstream-compatibility tests: upstream's own sample data, from packages.

Upstream Cerebro's tests read ``tests/sample_libsvm_data.txt`` (100 rows, 692 sparse
features, labels 0/1); pyspark ships the same file, so nothing is downloaded.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def libsvm_path() -> str:
    import pyspark

    path = os.path.join(os.path.dirname(pyspark.__file__), "data", "mllib",
                        "sample_libsvm_data.txt")
    assert os.path.exists(path), "pyspark ships upstream's sample_libsvm_data.txt"
    return path


@pytest.fixture(scope="session")
def libsvm_df(spark, libsvm_path):
    # upstream: spark.read.format("libsvm").load("./tests/sample_libsvm_data.txt").repartition(8)
    return spark.read.format("libsvm").load(libsvm_path).repartition(8).cache()


@pytest.fixture(scope="session")
def backend(spark):
    """Upstream's tests: ``SparkBackend(spark_context=..., num_workers=3)`` on local[3]; the
    shared 2-core test session has 2 task slots, so 2 workers (machine size, not an API change)."""
    from cerebro.backend import SparkBackend

    return SparkBackend(spark_context=spark.sparkContext, num_workers=2, verbose=0)
