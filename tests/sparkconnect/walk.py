"""The seed's walk-through, small: MNIST as a LIBSVM file, one-hot labels, a greedy search of
a ConvBlock graph on two workers, then evaluate and predict on the held-out rows.

``run(spark, ...)`` takes a classic or a Spark Connect session. As a script it is the driver
of a Connect client process (a Python process is either a classic or a Connect client:
pyspark routes its functions by a process-wide flag):

    python walk.py sc://127.0.0.1:PORT LIBSVM_FILE WORK_DIR

It prints one line ``RESULT {json}``.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

TRIALS, EPOCHS, LR = 2, 1, 0.001


def run(spark, libsvm: str, work: str, workers: int = 2, checks: bool = True) -> dict:
    """Runs the walk-through on ``spark``; returns what the test compares, and with
    ``checks`` the numpy and pandas paths, a worker restart and a job cancel."""
    import autokeras as ak
    import keras
    import numpy as np
    from keras_tuner import HyperParameters
    from pyspark.ml.feature import OneHotEncoder

    from cerebro.backend import SparkBackend
    from cerebro.nas.hphpmodel import HyperHyperModel
    from cerebro.storage import LocalStore

    t0 = time.monotonic()
    df = spark.read.format("libsvm").option("numFeatures", "784").load(libsvm)
    encoder = OneHotEncoder(dropLast=False)
    encoder.setInputCols(["label"])
    encoder.setOutputCols(["label_OHE"])
    encoded = encoder.fit(df).transform(df)
    train_df, test_df = encoded.randomSplit([0.8, 0.2], seed=100)

    keras.backend.clear_session()  # AutoKeras block names start afresh: conv_block_1
    input_node = ak.ImageInput()
    output_node = ak.ClassificationHead()(ak.ConvBlock()(ak.Normalization()(input_node)))
    am = HyperHyperModel(inputs=input_node, outputs=output_node, overwrite=True,
                         max_trials=1000, seed=1)
    backend = SparkBackend(spark_context=spark, num_workers=workers)
    store = LocalStore(os.path.join(work, "store"))
    am.resource_bind(backend=backend, store=store,
                     feature_columns=["features"], label_columns=["label_OHE"],
                     evaluation_metric="accuracy", verbose=0)
    hp = HyperParameters()
    hp.Fixed("learning_rate", value=LR)
    hp.Fixed("conv_block_1/num_blocks", 1)
    hp.Fixed("conv_block_1/max_pooling", True)
    hp.Fixed("conv_block_1/num_layers", 1)
    hp.Choice("conv_block_1/filters_0_0", [16, 32], default=32)
    hp.Fixed("optimizer", "adam")
    am.tuner_bind("greedy", hyperparameters=hp, objective="val_accuracy", max_trials=TRIALS,
                  overwrite=True)
    t_fit = time.monotonic()
    result = am.fit(train_df, epochs=EPOCHS, input_shape=(28, 28, 1))
    fit_s = time.monotonic() - t_fit
    histories = result.get_all_model_history()
    best = result.get_best_model().history["val_accuracy"][-1]

    t_eval = time.monotonic()
    metrics = am.evaluate(test_df)
    pred = am.predict(test_df).select("label", "label_OHE__pred", "label_OHE__class").collect()
    eval_s = time.monotonic() - t_eval
    probs = np.array([r["label_OHE__pred"] for r in pred])
    classes = np.array([r["label_OHE__class"] for r in pred])
    labels = np.array([r["label"] for r in pred])
    total_s = time.monotonic() - t0
    out = {
        "best_val_accuracy": float(best),
        "val_accuracy": {t: [float(v) for v in h["val_accuracy"]] for t, h in histories.items()},
        "trials": len(am.tuner.oracle.trials),
        "evaluate": {k: float(v) for k, v in metrics.items()},
        "predict_rows": len(pred), "test_rows": test_df.count(),
        "predict_accuracy": float((classes == labels).mean()),
        "argmax_agrees": bool((probs.argmax(axis=1) == classes).all()),
        "probs_sum_to_one": bool(np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)),
        "seconds": {"total": total_s, "fit": fit_s, "evaluate_predict": eval_s},
        "backend": {"connect": backend.connect is not None, "master": backend.master,
                    "local": backend.is_local, "workers": backend.num_workers},
    }
    if checks:
        local = test_df.limit(50).toPandas()
        x = np.stack([v.toArray() for v in local["features"]]).astype(np.float32)
        expected = am.export_model().predict(x.reshape(-1, 28, 28, 1), verbose=0).argmax(axis=1)
        out["numpy_predict_agrees"] = bool((am.predict(x) == expected).all())
        pandas_metrics = am.evaluate(local)  # a pandas DataFrame, converted by the session
        out["pandas_evaluate"] = {k: float(v) for k, v in pandas_metrics.items()}
        out["restart"] = restart_alone(backend, store)
        out["cancel"] = cancel_by_tag(backend)
        try:
            SparkBackend(spark=spark, num_workers=3, warm_up=False)
            out["too_many_workers"] = None
        except ValueError as e:
            out["too_many_workers"] = str(e)
    return out


def restart_alone(backend, store) -> dict:
    """Starts the workers on the prepared shards, restarts worker 0 and waits for it: worker
    1 keeps its connection and process meanwhile, and worker 0's old job ends (cancelled)."""
    from cerebro.data.prepare import load_dataset_info
    from cerebro.wire import WorkerUp

    pool = backend.start_workers(store, load_dataset_info(store), ["features", "label_OHE"])
    try:
        before = dict(pool.pids)
        old_job = pool._threads[0]
        conn1 = pool.conns[1]
        t0 = time.monotonic()
        pool.restart(0)
        ups = []
        while not ups and time.monotonic() - t0 < 120:
            ups = [w for w, item in pool.wait(5.0) if isinstance(item, WorkerUp)]
        old_job.join(30)
        return {"worker_up": ups, "seconds": time.monotonic() - t0,
                "old_job_ended": not old_job.is_alive(),
                "other_kept": pool.conns.get(1) is conn1 and pool.pids.get(1) == before[1],
                "pids_before": before, "pids_after": dict(pool.pids)}
    finally:
        pool.shutdown()


def cancel_by_tag(backend) -> dict:
    """A one-task job that would run for 10 minutes, cancelled through its tag (the way a
    hung worker is stopped): how long it took to end, and how."""
    import threading

    def forever(batches):
        import pyarrow as pa

        for _ in batches:
            pass
        time.sleep(600)
        yield pa.RecordBatch.from_pydict({"pid": [os.getpid()]})

    out: dict = {}

    def job():
        try:
            backend.connect.run_one_task(forever, "pid long", "cerebro-test-cancel")
            out["error"] = None
        except Exception as e:  # noqa: BLE001 - what the test looks at
            out["error"] = f"{type(e).__name__}: {e}"[:300]

    thread = threading.Thread(target=job, daemon=True)
    thread.start()
    time.sleep(3)
    t0 = time.monotonic()
    backend.connect.cancel("cerebro-test-cancel")
    thread.join(60)
    out.update(ended=not thread.is_alive(), seconds=time.monotonic() - t0)
    return out


def main(url: str, libsvm: str, work: str) -> None:
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.remote(url).getOrCreate()
    try:
        out = run(spark, libsvm, work)
    finally:
        spark.stop()
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
