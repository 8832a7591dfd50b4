"""A real headless Chromium drives the dashboard of a running search (Spark local mode).

A tiny GridSearch (4 MLPs on 480 digits, 2 workers) records itself in its store while
``cerebro dashboard`` serves it. Once three trials have an epoch, the busiest Spark worker is
SIGSTOPped, which holds the search running. Meanwhile the browser opens the trials table,
sorts and filters it, opens the charts (parallel coordinates, importance), compares two
trials, opens a trial page and downloads its ``.keras`` (loaded back with plain Keras),
and sees the stuck-visit warning. The worker is then SIGCONTed and the search finishes,
which the dashboard shows too. Every view is saved as a screenshot (the test prints where).
"""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from . import browser as b
from .conftest import TOKEN

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (b.CHROMIUM and b.DRIVER), reason="Chromium/chromedriver not installed "
                                         "(apt-get install chromium chromium-driver)")]


def _search(spark, store):
    import keras
    from sklearn.datasets import load_digits

    from cerebro.backend import SparkBackend
    from cerebro.keras import SparkEstimator
    from cerebro.tune import GridSearch, hp_choice
    from frames import make_vector_df

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))[:480]
    df = make_vector_df(spark, (x[order] / 16.0).astype(np.float32), y[order], val_fraction=0.25)

    def gen(params):
        model = keras.Sequential([keras.Input((64,)),
                                  keras.layers.Dense(params["units"], activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        return SparkEstimator(model, keras.optimizers.Adam(params["lr"]),
                              "sparse_categorical_crossentropy", ["accuracy"], batch_size=32)

    # No heartbeat check: the SIGSTOPped worker must hold its visit (a stuck visit to show),
    # not be found silent after 10 s and replaced.
    backend = SparkBackend(spark.sparkContext, num_workers=2, verbose=0, heartbeat_timeout=None)
    space = {"units": hp_choice([8, 16]), "lr": hp_choice([1e-3, 1e-2])}
    search = GridSearch(backend, store, gen, space, num_epochs=8, evaluation_metric="accuracy",
                        validation="is_val", feature_columns=["features"],
                        label_columns=["label"], verbose=0, seed=1)
    return search, df


def _wait_for_records(store_dir: str, enough, timeout: float = 240):
    """Polls the records until ``enough(trials)`` holds; returns the trials."""
    from cerebro.records import RecordsDB, queries

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(os.path.join(store_dir, "cerebro.db")):
            db = RecordsDB(store_dir)
            try:
                exps = queries.list_experiments(db)
                if exps:
                    trials = queries.list_trials(db, exps[0]["id"])
                    if enough(exps[0], trials):
                        return exps[0], trials
            finally:
                db.close()
        time.sleep(0.1)
    raise AssertionError("the search did not get far enough in time")


def test_dashboard_of_a_running_search(spark, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from cerebro.storage import LocalStore
    from tests.faults.test_worker_kill import _busy_spark_worker

    shots = b.artifacts("running-search")
    store_dir = str(tmp_path / "store")
    search, df = _search(spark, LocalStore(store_dir))
    out: dict = {}
    runner = threading.Thread(target=lambda: out.update(result=search.fit(df)), daemon=True)
    runner.start()
    stopped = None
    proc = driver = None
    try:
        exp, _ = _wait_for_records(store_dir, lambda e, ts: sum(
            t["best_value"] is not None for t in ts) >= 3)
        stopped = _busy_spark_worker()
        assert stopped is not None, "no busy Spark worker to stop"
        os.kill(stopped.pid, signal.SIGSTOP)  # holds the search running from here on
        proc, base = b.start_dashboard(store_dir, TOKEN, "--stuck-min-s", "2")
        driver = b.chrome(tmp_path / "downloads")
        _drive(driver, base, exp, shots, tmp_path / "downloads", By, ActionChains)
    finally:
        if stopped is not None:
            os.kill(stopped.pid, signal.SIGCONT)
        runner.join(300)
        if driver is not None:
            driver.quit()
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    assert "result" in out, "the search did not finish after SIGCONT"
    from cerebro.records import RecordsDB, queries

    done = queries.get_experiment(RecordsDB(store_dir), exp["id"])
    assert done["status"] == "DONE" and done["trial_status"]["DONE"] == 4


def _drive(driver, base, exp, shots, downloads, By, ActionChains) -> None:
    eid = exp["id"]
    driver.get(f"{base}/?token={TOKEN}")
    b.wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#exps tbody a"), "experiments")
    assert "RUNNING" in driver.find_element(By.ID, "exps").text
    driver.save_screenshot(str(shots / "01-experiments.png"))

    # trials table: sorted best first, re-sorted by a click, filtered
    driver.get(f"{base}/experiments/{eid}")
    b.wait(driver, lambda d: len(b.rows(d)) == 4, "the four trials")
    values = driver.execute_script("return [...document.querySelectorAll('#trials tbody td.obj')]"
                                   ".map(td => td.textContent)")
    scored = [float(v) for v in values if v]
    assert scored == sorted(scored, reverse=True) and len(scored) >= 3  # accuracy: max first
    b.click(driver, "#trials th", "units")
    b.wait(driver, lambda d: d.execute_script(
        "const i = [...document.querySelectorAll('#trials thead th')]"
        ".findIndex(t => t.textContent.startsWith('units'));"
        "return [...document.querySelectorAll('#trials tbody tr')]"
        ".map(r => +r.cells[i].textContent).join()") == "8,8,16,16", "sorted by units")
    driver.find_element(By.ID, "trial-filter").send_keys("units=16")
    b.wait(driver, lambda d: len(b.rows(d)) == 2, "filtered to units=16")
    driver.save_screenshot(str(shots / "02-trials-sorted-filtered.png"))
    driver.find_element(By.ID, "trial-filter").clear()
    driver.execute_script("document.getElementById('trial-filter').dispatchEvent("
                          "new Event('input'))")
    b.wait(driver, lambda d: len(b.rows(d)) == 4, "the filter cleared")

    # the stuck visit of the stopped worker is flagged
    b.wait(driver, lambda d: "Stuck visit" in d.find_element(By.ID, "stuck").text,
           "the stuck-visit warning", timeout=60)
    assert "worker" in driver.find_element(By.ID, "stuck").text
    driver.save_screenshot(str(shots / "03-stuck-visit-warning.png"))

    # charts: parallel coordinates, importance, slices, curves
    b.click(driver, "a.tab", "Charts")
    for chart in ("#curves", "#parallel", "#importance", "#history"):
        b.wait(driver, lambda d, c=chart: b.plotted(d, c), f"the {chart} chart")
    b.wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#parallel .parcoords"),
           "the parallel coordinates' axes")
    assert driver.execute_script("return document.querySelectorAll('#importance .bars .point')"
                                 ".length") == 2  # units and lr
    driver.save_screenshot(str(shots / "04-charts.png"))
    driver.execute_script("document.getElementById('parallel').scrollIntoView()")
    driver.save_screenshot(str(shots / "05-parallel-importance.png"))

    # the Gantt chart's hover names model, epoch, partition and duration
    b.click(driver, "a.tab", "Schedule")
    b.wait(driver, lambda d: b.plotted(d, "#gantt"), "the Gantt chart")
    bar = driver.find_elements(By.CSS_SELECTOR, "#gantt .bars .point path")[0]
    ActionChains(driver).move_to_element(bar).perform()
    b.wait(driver, lambda d: "partition" in " ".join(
        e.text for e in d.find_elements(By.CSS_SELECTOR, "#gantt .hovertext")), "a hover label")
    driver.save_screenshot(str(shots / "06-gantt-hover.png"))

    # compare two trials
    b.click(driver, "a.tab", "Trials")
    b.wait(driver, lambda d: len(b.rows(d)) == 4, "the trials table")
    driver.execute_script("const boxes = document.querySelectorAll('#trials input.pick');"
                          "boxes[0].click();")
    b.wait(driver, lambda d: "(1)" in d.find_element(By.ID, "compare").text, "one pick")
    driver.execute_script("document.querySelectorAll('#trials input.pick')[1].click()")
    b.wait(driver, lambda d: d.find_element(By.ID, "compare").is_enabled(), "two picks")
    driver.find_element(By.ID, "compare").click()
    b.wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#compare-table thead th"),
           "the comparison")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#compare-table thead th")) == 3
    b.wait(driver, lambda d: b.plotted(d, "#compare-body .curve"), "the compared curves")
    driver.save_screenshot(str(shots / "07-compare.png"))

    # a trial page, and its .keras
    best = driver.execute_script("return document.querySelector('#compare-table thead th a')"
                                 ".textContent")
    b.click(driver, "#compare-table thead th a", best)
    b.wait(driver, lambda d: d.find_elements(By.ID, "download"), "the trial page")
    b.wait(driver, lambda d: b.plotted(d, "#gantt"), "its visits on the schedule")
    b.wait(driver, lambda d: "Total params" in d.find_element(By.ID, "summary").text or
           "Param" in d.find_element(By.ID, "summary").text, "the model summary", timeout=90)
    driver.save_screenshot(str(shots / "08-trial.png"))
    driver.find_element(By.ID, "download").click()
    path = downloads / f"{best}.keras"
    b.wait(driver, lambda d: path.exists() and not list(downloads.glob("*.crdownload")),
           "the .keras download", timeout=120)
    import keras

    model = keras.saving.load_model(str(path))
    assert model.predict(np.zeros((2, 64), np.float32), verbose=0).shape == (2, 10)
    assert b.severe(driver) == [], b.severe(driver)
