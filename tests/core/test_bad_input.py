"""Bad input fails fast with a message naming the problem, before any training.

Each case runs a real ``GridSearch.fit`` and then checks that the store holds nothing:
no dataset metadata, no data directories and no runs.
"""

from __future__ import annotations

import time

import pytest

from cerebro.backend import SparkBackend
from cerebro.tune import GridSearch, hp_choice

from .helpers import estimator_fn, store_entries

EMPTY = {"metadata": [], "train": [], "val": [], "runs": []}


@pytest.fixture(scope="module")
def mnist_df(spark, mnist_arrays):
    from frames import make_vector_df

    x, y = mnist_arrays
    return make_vector_df(spark, x[:24], y[:24], val_fraction=0.25)


@pytest.fixture(scope="module")
def backend(spark):
    return SparkBackend(spark.sparkContext, num_workers=2, verbose=0)


def _missing_feature(df):
    return df, {"feature_columns": ["pixels"]}, ValueError, r"feature column\(s\) \['pixels'\]"


def _missing_label(df):
    return df, {"label_columns": ["digit"]}, ValueError, r"label column\(s\) \['digit'\]"


def _string_feature(df):
    from pyspark.sql import functions as F

    df = df.withColumn("name", F.concat(F.lit("img-"), F.col("label").cast("string")))
    return df, {"feature_columns": ["name"]}, TypeError, r"feature column 'name' has Spark type string"


def _shape_mismatch(df):
    return df, {"n_in": 100}, ValueError, r"input_shape \(100,\) holds 100 values per row, but " \
                                          r"column 'features' has 784"


def _empty(df):
    return df.limit(0), {}, ValueError, "DataFrame is empty"


def _null_labels(df):
    from pyspark.sql import functions as F

    df = df.withColumn("label", F.when(F.col("is_val"), F.lit(None)).otherwise(F.col("label")))
    return df, {}, ValueError, r"label column 'label' has 6 null value\(s\) in 24 rows"


CASES = [_missing_feature, _missing_label, _string_feature, _shape_mismatch, _empty, _null_labels]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.strip("_"))
def test_bad_input_raises_before_training(case, mnist_df, backend, store):
    df, opts, error, message = case(mnist_df)
    n_in = opts.pop("n_in", 784)
    search = GridSearch(backend, store, estimator_fn(n_in=n_in),
                        {"units": hp_choice([8]), "lr": hp_choice([1e-3])}, num_epochs=1,
                        validation="is_val", verbose=0, **opts)
    with pytest.raises(error, match=message):
        search.fit(df)
    assert store_entries(store) == EMPTY


def test_more_workers_than_slots(spark, store):
    started = time.monotonic()
    with pytest.raises(ValueError, match=r"num_workers=3.*only 2 task\(s\) at once"):
        SparkBackend(spark.sparkContext, num_workers=3)
    assert time.monotonic() - started < 5
    assert store_entries(store) == EMPTY


def test_worker_count_is_the_slots_not_default_parallelism(spark):
    """``spark.default.parallelism`` says nothing about how many tasks can run at once."""
    conf = spark.sparkContext._conf  # the live SparkConf of the running context
    conf.set("spark.default.parallelism", "8")
    try:
        assert spark.sparkContext.defaultParallelism == 8
        assert SparkBackend(spark.sparkContext).num_workers == 2
        with pytest.raises(ValueError, match="num_workers=3"):
            SparkBackend(spark.sparkContext, num_workers=3)
    finally:
        conf._jconf.remove("spark.default.parallelism")
    assert spark.sparkContext.defaultParallelism == 2


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_invalid_worker_count(spark, workers):
    with pytest.raises(ValueError, match="num_workers must be a positive int"):
        SparkBackend(spark.sparkContext, num_workers=workers)


def test_validation_split_without_val_rows_leaves_nothing(mnist_df, backend, store):
    from pyspark.sql import functions as F

    df = mnist_df.withColumn("is_val", F.lit(False))
    search = GridSearch(backend, store, estimator_fn(), {"units": hp_choice([8])}, num_epochs=1,
                        validation="is_val", verbose=0)
    with pytest.raises(ValueError, match="no validation rows"):
        search.fit(df)
    assert store_entries(store) == EMPTY
