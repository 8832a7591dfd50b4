"""Fixtures of the NAS tests (the Spark session and data come from tests/conftest.py)."""

from __future__ import annotations


import pytest


@pytest.fixture(scope="module")
def mnist_df(spark, mnist_arrays):
    """600 MNIST images as ``features`` (784-vectors in [0, 1]) and a double ``label``."""
    from frames import make_vector_df

    x, y = mnist_arrays[0][:600], mnist_arrays[1][:600]
    return make_vector_df(spark, x, y).drop("is_val").cache()
