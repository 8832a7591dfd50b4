"""The seed walk-through as a user writes it, on this project (``make bench``'s honest run).

Its own ``SparkSession`` built as the seed builds it (``master("local[N]")`` instead of the
seed's one-core ``"local"``, so that N workers have N task slots) or ``local_session``;
LIBSVM data read by Spark, ``OneHotEncoder``, ``randomSplit([0.8, 0.2], seed=100)``; the
seed's search space with only ``learning_rate`` fixed; ``fit(train_df)`` with the default
validation fraction. The epoch-end hook is the only instrumentation.
"""

from __future__ import annotations

import os
import sys

from benchmarks import workloads
from benchmarks.systems._harness import main


def session(wl: dict, workers: int):
    if wl.get("session", "user") == "local":
        from cerebro.backend.session import local_session

        return local_session(workers, app_name="Example")
    from pyspark.sql import SparkSession

    return (SparkSession.builder.master(f"local[{workers}]").appName("Example")
            .config("spark.executor.memory", "1gb").getOrCreate())


def seed_graph(wl: dict):
    """The seed's graphs: ``conv`` (Normalization -> ConvBlock) or ``seed-graph`` (ConvBlock
    and ResNetBlock v2 merged), both into a ClassificationHead."""
    import autokeras as ak

    inp = ak.ImageInput()
    out = ak.Normalization()(inp)
    if wl.get("graph", "conv") == "seed-graph":
        out = ak.Merge()([ak.ConvBlock()(out), ak.ResNetBlock(version="v2")(out)])
    else:
        out = ak.ConvBlock()(out)
    return inp, ak.ClassificationHead()(out)


def seed_hyperparameters(wl: dict):
    from keras_tuner import HyperParameters

    hp = HyperParameters()
    hp.Fixed("learning_rate", value=wl.get("learning_rate", 0.0001))
    return hp


def epoch_listener(elog):
    """A search listener (the public ``resource_bind(listeners=...)``) logging epoch ends."""
    def listen(kind: str, payload: dict) -> None:
        if kind == "epoch_end":
            elog.write(payload["epoch"], payload["metrics"], payload["model_id"])
        elif kind == "visit_started":
            elog.event(kind, payload["model_id"], visit=payload.get("kind"))
        elif kind == "visit_done":
            elog.event(kind, payload["model_id"], visit=payload.get("kind"),
                       seconds=payload.get("seconds"), threads=payload.get("threads", 1),
                       compute_s=payload.get("compute_s"), thread_s=payload.get("thread_s"))

    return listen


def run(spec: dict, marks) -> dict:
    wl, workers = spec["workload"], int(spec["workers"])
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    marks("spark_imported")
    spark = session(wl, workers)
    sc = spark.sparkContext
    marks("spark_ready")
    from cerebro.backend import SparkBackend
    from cerebro.storage import LocalStore

    backend = SparkBackend(spark_context=sc, num_workers=workers)
    store = LocalStore(prefix_path=os.path.join(spec["work_dir"], "store"))
    from cerebro.nas.hphpmodel import HyperHyperModel

    marks("cerebro_imported")
    inp, out = seed_graph(wl)
    marks("graph_built")
    am = HyperHyperModel(inputs=inp, outputs=out, overwrite=True, max_trials=1000,
                         seed=wl["seed"])
    elog = workloads.EpochLog(spec["epoch_log"])
    am.resource_bind(backend=backend, store=store, feature_columns=["features"],
                     label_columns=["label_OHE"], evaluation_metric="accuracy", verbose=0,
                     listeners=[epoch_listener(elog)])
    kw = {"exploration": wl["exploration"]} if wl.get("tuner", "greedy") == "greedy" else {}
    kw.update({k: wl[k] for k in ("proposals", "early_stopping") if k in wl})  # else defaults
    am.tuner_bind(wl.get("tuner", "greedy"), hyperparameters=seed_hyperparameters(wl),
                  objective="val_accuracy", max_trials=wl["trials"], overwrite=True, **kw)
    marks("tuner_bound")
    df = spark.read.format("libsvm").option("numFeatures", "784").load(wl["data"]["libsvm"])
    from pyspark.ml.feature import OneHotEncoder  # Spark 3+ name of OneHotEncoderEstimator

    encoder = OneHotEncoder(dropLast=False)
    encoder.setInputCols(["label"])
    encoder.setOutputCols(["label_OHE"])
    encoded = encoder.fit(df).transform(df)
    train_df, _test_df = encoded.randomSplit([0.8, 0.2], seed=100)
    marks("dataframe_ready")
    marks("fit_called")
    result = am.fit(train_df, epochs=wl["epochs"], input_shape=(28, 28, 1),
                    batch_size=wl["batch_size"])
    marks("fit_returned")
    spark.stop()
    stats = dict(result.stats)
    return {"stats": {k: v for k, v in stats.items() if isinstance(v, (int, float))},
            "phases": {k: v for k, v in (stats.get("phases") or {}).items()
                       if isinstance(v, (int, float))},
            "trials": workloads.oracle_trials(am.tuner.oracle)}


if __name__ == "__main__":
    main(run)
