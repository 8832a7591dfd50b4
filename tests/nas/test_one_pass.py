"""Data preparation on the seed's path (LIBSVM -> OneHotEncoder -> randomSplit) runs a few
Spark jobs over one computation of the user's plan, and leaves nothing cached behind."""

from __future__ import annotations

from .helpers import fresh_names, write_libsvm

# One job inspects (its aggregation), one writes (shuffle, shards, summary); before the one
# pass it was 5 (adaptive execution ran each shuffle as a job) and read the source twice.
MAX_PREP_JOBS = 2
GROUP = "cerebro-test-one-pass"


def _jobs(sc) -> list[str]:
    """The group's jobs, each as ``id: stage names (tasks)``."""
    st = sc.statusTracker()
    out = []
    for j in sorted(st.getJobIdsForGroup(GROUP)):
        info = st.getJobInfo(j)
        stages = [st.getStageInfo(s) for s in (info.stageIds if info else [])]
        out.append(f"{j}: " + ", ".join(f"{s.name} ({s.numTasks})" for s in stages if s))
    return out


def _seed_df(spark, path, x, y):
    from pyspark.ml.feature import OneHotEncoder

    write_libsvm(path, x, y)
    df = spark.read.format("libsvm").option("numFeatures", "784").load(str(path))
    encoder = OneHotEncoder(dropLast=False, inputCols=["label"], outputCols=["label_OHE"])
    train, _ = encoder.fit(df).transform(df).randomSplit([0.8, 0.2], seed=100)
    return train


def test_preparation_reads_the_users_plan_once_in_few_jobs(spark, mnist_arrays, tmp_path):
    import autokeras as ak

    from cerebro.backend import SparkBackend
    from cerebro.nas.hphpmodel import HyperHyperModel
    from cerebro.storage import LocalStore

    sc = spark.sparkContext
    x, y = mnist_arrays
    train = _seed_df(spark, tmp_path / "mnist.scale", x[:500], y[:500])
    fresh_names()
    inp = ak.ImageInput()
    am = HyperHyperModel(inputs=inp, outputs=ak.ClassificationHead()(ak.ConvBlock()(inp)),
                         overwrite=True, max_trials=1, seed=1)
    am.resource_bind(backend=SparkBackend(spark_context=sc, num_workers=2, warm_up=False),
                     store=LocalStore(str(tmp_path / "store")), feature_columns=["features"],
                     label_columns=["label_OHE"], verbose=0)
    cached_before = sc._jsc.getPersistentRDDs().size()
    sc.setJobGroup(GROUP, "data preparation under test")
    try:
        rows, val_rows, info, _ = am.sys_setup(train, input_shape=(28, 28, 1))
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    jobs = _jobs(sc)
    assert rows + val_rows == train.count() and info.fingerprint
    assert 1 <= len(jobs) <= MAX_PREP_JOBS, f"data preparation ran {len(jobs)} Spark jobs: {jobs}"
    assert train.storageLevel.useMemory is False, "the user's DataFrame is left as it was"
    assert sc._jsc.getPersistentRDDs().size() == cached_before, "preparation left a cache"
