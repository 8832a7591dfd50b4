"""A worker process SIGKILLed in the middle of a sub-epoch: the search goes on, loses nothing."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import psutil
import pytest

from cerebro.storage.layout import RunLayout
from frames import make_vector_df

pytestmark = pytest.mark.slow


def _busy_spark_worker() -> psutil.Process | None:
    """The forked PySpark worker (child of the daemon, PySpark's or cerebro's) using the most
    CPU right now."""
    def is_daemon_cmd(proc) -> bool:
        cmd = " ".join(proc.cmdline())
        return "pyspark.daemon" in cmd or "cerebro.backend.daemon" in cmd

    me = psutil.Process(os.getpid())
    workers = []
    for p in me.children(recursive=True):
        try:
            parent = p.parent()
            if is_daemon_cmd(p) and parent is not None and is_daemon_cmd(parent):
                workers.append(p)
        except psutil.Error:
            continue
    for p in workers:
        p.cpu_percent(None)
    time.sleep(0.5)
    busy = sorted(workers, key=lambda p: p.cpu_percent(None), reverse=True)
    return busy[0] if busy else None


def _model_dirs(store) -> list[str]:
    return [f"runs/{p}/{r}" for p in store.listdir("runs") for r in store.listdir(f"runs/{p}")]


def _has_state(store, model_dir: str) -> bool:
    return any(n.startswith("state-") for n in store.listdir(model_dir))


def _search(spark, store, df, seed=3, **backend_kw):
    import keras

    from cerebro.backend import SparkBackend
    from cerebro.keras import SparkEstimator
    from cerebro.tune import GridSearch, hp_choice

    def gen(params):
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(params["units"], "relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        return SparkEstimator(model, keras.optimizers.Adam(params["lr"]),
                              "sparse_categorical_crossentropy", ["accuracy"], batch_size=16)

    backend = SparkBackend(spark.sparkContext, num_workers=2, **backend_kw)
    space = {"units": hp_choice([16, 32]), "lr": hp_choice([1e-3, 3e-3])}
    return GridSearch(backend, store, gen, space, num_epochs=3, evaluation_metric="accuracy",
                      validation="is_val", feature_columns=["features"], label_columns=["label"],
                      verbose=0, seed=seed, strict_order=True)  # compared with a clean run


@pytest.fixture(scope="module")
def digits_df(spark):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = np.repeat(x / 16.0, 3, axis=0)  # long enough sub-epochs to be killed in the middle
    y = np.repeat(y, 3)
    order = np.random.default_rng(0).permutation(len(x))
    return make_vector_df(spark, x[order], y[order], val_fraction=0.2)


def test_sigkill_of_a_training_worker_loses_nothing(spark, tmp_path, digits_df):
    from cerebro.storage import LocalStore

    clean = _search(spark, LocalStore(str(tmp_path / "clean")), digits_df).fit(digits_df)

    store = LocalStore(str(tmp_path / "killed"))
    killed = []

    def killer():
        # Wait for the first committed states, then kill whichever worker is busy.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(_has_state(store, r) for r in _model_dirs(store)):
                victim = _busy_spark_worker()
                if victim is not None:
                    killed.append(victim.pid)
                    os.kill(victim.pid, signal.SIGKILL)
                return
            time.sleep(0.05)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    search = _search(spark, store, digits_df)
    result = search.fit(digits_df)
    t.join(5)

    assert killed, "no busy Spark worker was found to kill"
    assert result.stats["restarts"] == 1
    hist_clean = clean.get_all_model_history()
    hist_killed = result.get_all_model_history()
    assert len(hist_killed) == len(hist_clean) == 4
    for (_, a), (_, b) in zip(sorted(hist_clean.items()), sorted(hist_killed.items())):
        assert len(a["val_loss"]) == len(b["val_loss"]) == 3
        # Same committed states and per-visit seeds: the retried sub-epoch reproduces the run.
        np.testing.assert_allclose(a["val_loss"], b["val_loss"], rtol=1e-4)
    for model_id in hist_killed:
        log = store.read_json(RunLayout(store, search.project_name).log_key(model_id))
        assert log["epochs_done"] == 3
        for epoch, parts in log["visit_log"].items():
            assert sorted(parts) == [0, 1], (model_id, epoch, parts)


def test_sigstop_of_a_busy_worker_costs_one_sub_epoch(spark, tmp_path, digits_df):
    """A stopped (not dead) worker: its visit passes its deadline, the worker is replaced,
    and the search finishes with every model fully trained; one sub-epoch is redone."""
    from cerebro.storage import LocalStore

    store = LocalStore(str(tmp_path / "stopped"))
    stopped = []

    def stopper():
        # Once every model has a committed state (so each visit has a derived deadline),
        # stop whichever worker is busy.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            runs = _model_dirs(store)
            if len(runs) == 4 and all(_has_state(store, r) for r in runs):
                victim = _busy_spark_worker()
                if victim is not None:
                    stopped.append(victim)
                    os.kill(victim.pid, signal.SIGSTOP)
                return
            time.sleep(0.05)

    t = threading.Thread(target=stopper, daemon=True)
    t.start()
    t0 = time.monotonic()
    search = _search(spark, store, digits_df, visit_deadline_floor=3.0)
    result = search.fit(digits_df)
    t.join(5)
    try:
        assert stopped, "no busy Spark worker was found to stop"
        assert result.stats["restarts"] == 1 and result.stats["lost_visits"] == 1
        assert time.monotonic() - t0 < 170
        for model_id, model in result.models.items():
            assert len(model.history["val_loss"]) == 3 and result.statuses[model_id] == "DONE"
            log = store.read_json(RunLayout(store, search.project_name).log_key(model_id))
            for epoch, parts in log["visit_log"].items():
                assert sorted(parts) == [0, 1], (model_id, epoch, parts)
    finally:
        for p in stopped:  # never leave a stopped process behind
            try:
                p.kill()
            except psutil.Error:
                pass


def test_sigstop_is_found_by_its_missing_heartbeats_within_seconds(spark, tmp_path, digits_df):
    """With a deadline of an hour, only the heartbeats can find a stopped worker: its visit
    is lost as ``no_heartbeat``, and a new worker takes it within 15 s of the stop."""
    from cerebro.records import RecordsDB, queries
    from cerebro.storage import LocalStore
    from cerebro.wire import as_listeners

    store = LocalStore(str(tmp_path / "silent"))
    stopped: list[tuple[psutil.Process, float]] = []
    events: list[tuple[float, str, dict]] = []

    def listener(kind, payload):
        if kind in ("visit_lost", "visit_started"):
            events.append((time.monotonic(), kind, dict(payload)))

    def stopper():
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if any(_has_state(store, r) for r in _model_dirs(store)):
                victim = _busy_spark_worker()
                if victim is not None:
                    os.kill(victim.pid, signal.SIGSTOP)
                    stopped.append((victim, time.monotonic()))
                return
            time.sleep(0.05)

    t = threading.Thread(target=stopper, daemon=True)
    t.start()
    search = _search(spark, store, digits_df, visit_timeout=3600.0)
    search.listeners = as_listeners([listener])
    try:
        result = search.fit(digits_df)
        t.join(5)
        assert stopped, "no busy Spark worker was found to stop"
        t_stop = stopped[0][1]
        lost = [(t, p) for t, k, p in events if k == "visit_lost"]
        assert [p["reason"] for _, p in lost] == ["no_heartbeat"], lost
        t_lost, p_lost = lost[0]
        again = next(t for t, k, p in events if k == "visit_started" and t > t_lost
                     and p["partition"] == p_lost["partition"])
        print(f"SIGSTOP found after {t_lost - t_stop:.1f} s; new worker took the visit "
              f"{again - t_stop:.1f} s after the stop")
        assert 8.0 <= t_lost - t_stop <= 13.0
        assert again - t_stop <= 15.0
        assert result.stats["restarts"] == 1
        for model_id, model in result.models.items():
            assert len(model.history["val_loss"]) == 3 and result.statuses[model_id] == "DONE"
        db = RecordsDB(store)  # the records keep the reason (the dashboard shows it)
        eid = queries.list_experiments(db)[0]["id"]
        assert [v["lost_reason"] for v in queries.schedule(db, eid)
                if v["status"] == "lost"] == ["no_heartbeat"]
    finally:
        for p, _ in stopped:
            try:
                p.kill()
            except psutil.Error:
                pass
