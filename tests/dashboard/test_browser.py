"""The dashboard pages in a real headless Chromium (selenium) on a made-up search: they read
the API with the token cookie, sort and filter the trials, draw the charts and queue a stop.

Skipped when Chromium, chromedriver (Debian ``chromium``, ``chromium-driver``) or selenium are
not installed.
"""

from __future__ import annotations

import pytest

from . import browser as b
from .conftest import TOKEN, fill

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

pytestmark = pytest.mark.skipif(not (b.CHROMIUM and b.DRIVER),
                                reason="Chromium/chromedriver not installed "
                                       "(apt-get install chromium chromium-driver)")


@pytest.fixture
def server(tmp_path):
    eid = fill(str(tmp_path))
    proc, base = b.start_dashboard(str(tmp_path), TOKEN)
    yield base, eid, tmp_path
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def browser(tmp_path):
    driver = b.chrome(tmp_path / "downloads")
    yield driver
    driver.quit()


def test_pages_show_sort_chart_and_act(server, browser):
    from selenium.webdriver.common.by import By

    base, eid, store = server
    shots = b.artifacts("made-up-search")
    browser.get(f"{base}/?token={TOKEN}")
    b.wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#exps tbody a"),
           "the experiments table")
    assert "token=" not in browser.current_url  # kept in a cookie, out of the address bar
    text = browser.find_element(By.ID, "exps").text
    assert "GridSearch-abc" in text and "0.8000" in text  # best value as a column
    b.click(browser, "#exps tbody a", "GridSearch-abc")

    b.wait(browser, lambda d: len(b.rows(d)) == 3, "the trials table")
    assert b.rows(browser) == ["m1", "m0", "m2"]  # best val_accuracy first
    assert "m1" in browser.find_element(By.ID, "best").text
    b.click(browser, "#trials th", "units")
    b.wait(browser, lambda d: b.rows(d) == ["m0", "m1", "m2"], "sorting by units")
    b.click(browser, "#trials th", "units")
    b.wait(browser, lambda d: b.rows(d) == ["m2", "m1", "m0"], "sorting by units, descending")
    browser.find_element(By.ID, "trial-filter").send_keys("lr<0.05")
    b.wait(browser, lambda d: b.rows(d) == ["m1", "m0"], "filtering by lr")
    browser.find_element(By.ID, "trial-filter").clear()
    browser.execute_script("const f = document.getElementById('trial-filter');"
                           "f.dispatchEvent(new Event('input'))")
    b.wait(browser, lambda d: len(b.rows(d)) == 3, "the filter cleared")

    assert browser.execute_script(
        "const row = document.querySelector('#trials tbody tr[data-trial=\"m1\"]');"
        "row.querySelector('button.stop').click(); return true;")
    b.click(browser, "a.tab", "Actions")
    b.wait(browser, lambda d: "stop" in d.find_element(By.ID, "cmds").text, "the queued stop")

    b.click(browser, "a.tab", "Charts")
    for chart in ("#curves", "#parallel", "#importance", "#history"):
        b.wait(browser, lambda d, c=chart: b.plotted(d, c), f"the {chart} chart")
    browser.save_screenshot(str(shots / "charts.png"))
    b.click(browser, "a.tab", "Schedule")
    b.wait(browser, lambda d: b.plotted(d, "#gantt"), "the Gantt chart")
    b.click(browser, "a.tab", "Search space")
    b.wait(browser, lambda d: "units" in d.find_element(By.ID, "space").text, "the space")
    assert "8 (1 trial" in browser.find_element(By.ID, "space").text
    browser.save_screenshot(str(shots / "space.png"))

    b.click(driver := browser, "#crumbs a", "GridSearch-abc")
    b.wait(driver, lambda d: len(b.rows(d)) == 3, "the trials table again")
    b.click(driver, "#trials tbody a", "m0")
    b.wait(driver, lambda d: b.plotted(d, "#trial-curve") and b.plotted(d, "#gantt"),
           "the trial page's charts")
    b.wait(driver, lambda d: "No model summary" in d.find_element(By.ID, "summary").text,
           "the summary's absence explained")
    assert "2 \u2605" in driver.find_element(By.ID, "epochs").text  # the best epoch, marked
    driver.save_screenshot(str(shots / "trial.png"))

    browser.get(base + "/docs")
    b.wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock"),
           "Swagger UI's operations")
    assert "/api/experiments/{experiment_id}/delta" in browser.find_element(
        By.ID, "swagger-ui").text
    browser.save_screenshot(str(shots / "docs.png"))

    from cerebro.records import RecordsDB, queries

    [cmd] = queries.list_commands(RecordsDB(str(store)), eid)
    assert (cmd["action"], cmd["model_id"], cmd["status"]) == ("stop", "m1", "PENDING")
    assert b.severe(browser) == []  # no CSP violation, no failed request


def test_pages_without_the_token_say_so(server, browser):
    from selenium.webdriver.common.by import By

    base, _, _ = server
    browser.get(base + "/")
    b.wait(browser, lambda d: "401" in d.find_element(By.ID, "msg").text, "the refusal")
    browser.get(base + "/?token=wrong")
    b.wait(browser, lambda d: "401" in d.find_element(By.ID, "msg").text, "the refusal")


def test_the_report_shows_the_same_views_offline(tmp_path, browser):
    from selenium.webdriver.common.by import By

    from cerebro.report import write_report

    fill(str(tmp_path / "store"))
    out = write_report(str(tmp_path / "store"), str(tmp_path / "report.html"))
    shots = b.artifacts("report")
    browser.get("file://" + out)
    b.wait(browser, lambda d: len(b.rows(d)) == 3, "the trials table")  # one experiment
    assert b.rows(browser) == ["m1", "m0", "m2"]
    assert not browser.find_elements(By.CSS_SELECTOR, "button.stop")  # no actions offline
    b.click(browser, "#trials th", "units")
    b.wait(browser, lambda d: b.rows(d) == ["m0", "m1", "m2"], "sorting by units")
    browser.save_screenshot(str(shots / "trials.png"))
    b.click(browser, "a.tab", "Charts")
    for chart in ("#curves", "#parallel", "#importance"):
        b.wait(browser, lambda d, c=chart: b.plotted(d, c), f"the {chart} chart")
    browser.save_screenshot(str(shots / "charts.png"))
    b.click(browser, "#crumbs a", "GridSearch-abc")
    b.wait(browser, lambda d: len(b.rows(d)) == 3, "the trials table again")
    b.click(browser, "#trials tbody a", "m1")
    b.wait(browser, lambda d: b.plotted(d, "#gantt"), "the trial's visits")
    assert "#/trials/" in browser.current_url
    assert b.severe(browser) == []
