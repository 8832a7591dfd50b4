"""Launch -> first visit of the seed walk-through, phase by phase, as a user writes it (issue 18.2).

Its own ``SparkSession`` (``local[2]``), LIBSVM MNIST read by Spark, ``OneHotEncoder``,
``randomSplit([0.8, 0.2], seed=100)``, the seed's graph with ``learning_rate`` fixed, greedy,
2 workers; a small search (``--trials``, ``--epochs``). Before ``fit`` the script marks each
step (Spark session, imports, DataFrame); inside ``fit`` the phases come from
``result.stats["phases"]`` (``cerebro.engine.phases``). The Spark jobs ``fit`` runs on the
driver's thread (data preparation) are counted through the status tracker (their job group).

Usage: ``python benchmarks/seed_phases.py [--rows 2000] [--out phases.json]``; one JSON line.
"""

from __future__ import annotations

import time

T_LAUNCH = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

GROUP = "seed-phases-fit"


def prep_jobs(sc) -> list[dict]:
    """The Spark jobs of the fit's driver thread: id, stages, tasks."""
    st = sc.statusTracker()
    out = []
    for jid in sorted(st.getJobIdsForGroup(GROUP)):
        job = st.getJobInfo(jid)
        stages = [st.getStageInfo(s) for s in (job.stageIds if job else [])]
        out.append({"job": jid, "stages": len(stages),
                    "tasks": sum(s.numTasks for s in stages if s is not None)})
    return out


def seed_search(args, spark, backend, store, libsvm: str, mark):
    """The seed's graph and tuner, bound as the seed binds them, and its DataFrame."""
    import autokeras as ak
    from keras_tuner import HyperParameters

    from cerebro.nas.hphpmodel import HyperHyperModel

    mark("imports")
    inp = ak.ImageInput()
    out = ak.Normalization()(inp)
    if args.graph == "seed-graph":
        out = ak.Merge()([ak.ConvBlock()(out), ak.ResNetBlock(version="v2")(out)])
    else:
        out = ak.ConvBlock()(out)
    am = HyperHyperModel(inputs=inp, outputs=ak.ClassificationHead()(out), overwrite=True,
                         max_trials=1000, seed=1)
    am.resource_bind(backend=backend, store=store, feature_columns=["features"],
                     label_columns=["label_OHE"], evaluation_metric="accuracy", verbose=0)
    hp = HyperParameters()
    hp.Fixed("learning_rate", value=1e-4)
    am.tuner_bind("greedy", hyperparameters=hp, objective="val_accuracy",
                  max_trials=args.trials, overwrite=True, exploration=0.3)
    df = spark.read.format("libsvm").option("numFeatures", "784").load(libsvm)
    from pyspark.ml.feature import OneHotEncoder

    encoder = OneHotEncoder(dropLast=False, inputCols=["label"], outputCols=["label_OHE"])
    train_df, _ = encoder.fit(df).transform(df).randomSplit([0.8, 0.2], seed=100)
    return am, train_df


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--graph", choices=["conv", "seed-graph"], default="conv",
                    help="conv: Normalization -> ConvBlock (the bench's); seed-graph: ConvBlock "
                         "and ResNetBlock v2 merged (the seed's, slow first trial)")
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "torch")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("cerebro").setLevel(logging.INFO)  # the "start-up (s since fit)" line
    marks: dict[str, float] = {}

    def mark(name: str) -> None:
        marks[name] = round(time.time() - T_LAUNCH, 3)

    work = tempfile.mkdtemp(prefix="seed-phases-")
    from cerebro.demo import write_mnist_libsvm

    libsvm = write_mnist_libsvm(os.path.join(work, "mnist.scale"), rows=args.rows)
    mark("data_file")
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("Example")
             .config("spark.executor.memory", "1gb").getOrCreate())
    sc = spark.sparkContext
    mark("spark")
    from cerebro.backend import SparkBackend
    from cerebro.storage import LocalStore

    backend = SparkBackend(spark_context=sc, num_workers=2)
    store = LocalStore(prefix_path=os.path.join(work, "store"))
    am, train_df = seed_search(args, spark, backend, store, libsvm, mark)
    mark("dataframe")
    sc.setJobGroup(GROUP, "the fit's driver-side jobs")
    mark("fit_called")
    result = am.fit(train_df, epochs=args.epochs, input_shape=(28, 28, 1), batch_size=32)
    mark("fit_returned")
    fit_at = marks["fit_called"]
    phases = {k: round(fit_at + v, 3) for k, v in result.stats.get("phases", {}).items()}
    jobs = prep_jobs(sc)
    row = {"rows": args.rows, "launch": marks, "fit_phases_from_launch": phases,
           "fit_phases": result.stats.get("phases", {}), "prep_jobs": len(jobs),
           "prep_stages": sum(j["stages"] for j in jobs), "jobs": jobs}
    print(json.dumps(row))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(row, f, indent=1)
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
