"""Memory over hundreds of trials: with the default settings, neither the driver nor a worker
keeps growing from the middle of a 200-trial search to its end (polled from outside)."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import psutil
import pytest

from frames import make_vector_df

pytestmark = pytest.mark.slow

TRIALS = 200
MB = 2**20


def _spark_workers() -> list[psutil.Process]:
    """The forked PySpark workers (children of a daemon: PySpark's or cerebro's)."""
    def is_daemon(proc) -> bool:
        cmd = " ".join(proc.cmdline())
        return "pyspark.daemon" in cmd or "cerebro.backend.daemon" in cmd

    out = []
    for p in psutil.Process(os.getpid()).children(recursive=True):
        try:
            parent = p.parent()
            if is_daemon(p) and parent is not None and is_daemon(parent):
                out.append(p)
        except psutil.Error:
            continue
    return out


class Poller:
    """Peak RSS of the driver and of each worker process, per fifth of the trials done."""

    def __init__(self, trials: int) -> None:
        self.trials, self.done = trials, 0
        self.driver: dict[int, int] = {}  # fifth -> peak bytes
        self.workers: dict[int, dict[int, int]] = {}  # pid -> fifth -> peak bytes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def listener(self, kind, payload) -> None:
        if kind in ("model_done", "model_failed"):
            self.done += 1

    def start(self) -> "Poller":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        me = psutil.Process(os.getpid())
        while not self._stop.wait(0.25):
            fifth = min(4, 5 * self.done // self.trials)
            self.driver[fifth] = max(self.driver.get(fifth, 0), me.memory_info().rss)
            for p in _spark_workers():
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                peaks = self.workers.setdefault(p.pid, {})
                peaks[fifth] = max(peaks.get(fifth, 0), rss)

    def curve(self) -> str:
        lines = ["fifth  driver MB  " + "  ".join(f"worker {pid} MB" for pid in self.workers)]
        for f in range(5):
            cells = [f"{self.driver.get(f, 0) / MB:9.0f}"] + [
                f"{peaks.get(f, 0) / MB:14.0f}" for peaks in self.workers.values()]
            lines.append(f"{f + 1}/5    " + "  ".join(cells))
        return "\n".join(lines)


@pytest.mark.timeout(1800)  # 840 s on the shared 2-core machine under load
def test_driver_and_worker_memory_plateau_over_200_trials(spark, tmp_path):
    import keras
    from sklearn.datasets import load_digits

    from cerebro.backend import SparkBackend
    from cerebro.keras import SparkEstimator
    from cerebro.storage import LocalStore
    from cerebro.tune import RandomSearch, hp_choice, hp_loguniform

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    df = make_vector_df(spark, x[order] / 16.0, y[order], val_fraction=0.2)

    def gen(params):
        layers = [keras.Input((64,))] + [keras.layers.Dense(params["units"], "relu")
                                         for _ in range(params["layers"])]
        model = keras.Sequential(layers + [keras.layers.Dense(10, activation="softmax")])
        return SparkEstimator(model, keras.optimizers.Adam(params["lr"]),
                              "sparse_categorical_crossentropy", ["accuracy"], batch_size=32)

    space = {"units": hp_choice([16, 32, 64]), "layers": hp_choice([1, 2, 3]),
             "lr": hp_loguniform(1e-4, 1e-2)}
    poller = Poller(TRIALS)
    search = RandomSearch(SparkBackend(spark.sparkContext, num_workers=2), LocalStore(
        str(tmp_path / "store")), gen, space, num_models=TRIALS, num_epochs=1,
        evaluation_metric="accuracy", validation="is_val", parallelism=4, verbose=0, seed=1,
        listeners=(poller.listener,))
    poller.start()
    t0 = time.monotonic()
    try:
        result = search.fit(df)
    finally:
        poller.stop()
    print(f"\n{TRIALS} trials in {time.monotonic() - t0:.0f} s\n{poller.curve()}")
    assert len(result.models) == TRIALS and poller.done == TRIALS
    growth = poller.driver[4] - poller.driver[2]
    assert growth <= 100 * MB, f"the driver grew {growth / MB:.0f} MB\n{poller.curve()}"
    lived = [p for p in poller.workers.values() if 2 in p and 4 in p]
    assert len(lived) >= 2, poller.curve()  # the two workers, there from middle to end
    for peaks in lived:
        growth = peaks[4] - peaks[2]
        assert growth <= 100 * MB, f"a worker grew {growth / MB:.0f} MB\n{poller.curve()}"
