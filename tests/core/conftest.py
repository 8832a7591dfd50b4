"""Fixtures shared by the core tests (the Spark session and data come from tests/conftest.py)."""

from __future__ import annotations


import pytest


@pytest.fixture(scope="session")
def small_mnist(spark, mnist_arrays):
    """1,200 MNIST images as a ``features``/``label``/``is_val`` DataFrame (300 val rows)."""
    from frames import make_vector_df

    x, y = mnist_arrays[0][:1200], mnist_arrays[1][:1200]
    return make_vector_df(spark, x, y, val_fraction=0.25), (x, y)


@pytest.fixture(scope="session")
def random_search(spark, small_mnist, tmp_path_factory):
    """One RandomSearch (3 models x 2 epochs), shared by the search and hopping tests:
    ``(result, store, visits)``, ``visits`` the payloads of its ``visit_done`` events."""
    from cerebro.backend import SparkBackend
    from cerebro.storage import LocalStore
    from cerebro.tune import RandomSearch, hp_choice, hp_loguniform

    from .helpers import estimator_fn

    store = LocalStore(str(tmp_path_factory.mktemp("random") / "store"))
    backend = SparkBackend(spark.sparkContext, num_workers=2, verbose=0)
    visits: list[dict] = []
    search = RandomSearch(backend, store, estimator_fn(batch_size=64),
                          {"lr": hp_loguniform(-4, -1), "units": hp_choice([16, 32])},
                          num_models=3, num_epochs=2, evaluation_metric="loss",
                          validation="is_val", verbose=0, seed=1, project_name="random",
                          listeners=[lambda kind, p: visits.append(p) if kind == "visit_done"
                                     else None])
    return search.fit(small_mnist[0]), store, visits
