"""The dashboard pages in a real headless Chromium (selenium): they read the API with the
token, sort the trials, show the server-drawn charts and queue a stop.

Skipped when Chromium, chromedriver (Debian ``chromium``, ``chromium-driver``) or selenium are
not installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from .conftest import TOKEN, fill
from .test_cli import _free_port

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

CHROMIUM = (shutil.which("chromium") or shutil.which("chromium-browser")
            or shutil.which("google-chrome"))
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="Chromium/chromedriver not installed "
                                       "(apt-get install chromium chromium-driver)")


@pytest.fixture
def server(tmp_path):
    eid = fill(str(tmp_path))
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cerebro.cli", "dashboard", "--store",
                             str(tmp_path), "--port", str(port), "--token", TOKEN],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/api/health", timeout=5)
            break
        except (urllib.error.URLError, ConnectionError):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.3)
    yield base, eid, tmp_path
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,2000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(driver, predicate, what, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(
        lambda d: predicate(d), message=f"timed out waiting for {what}")


def _rows(driver):
    """The trial ids in table order (read in one go: the page re-renders the table)."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#trials tbody tr')]"
        ".map(r => r.cells[0].textContent)")


def _click(driver, selector: str, text: str) -> None:
    """Clicks the first ``selector`` element whose text starts with ``text`` (looked up and
    clicked in one script, so a re-render in between cannot leave a stale reference)."""
    assert driver.execute_script(
        "const el = [...document.querySelectorAll(arguments[0])]"
        ".find(e => e.textContent.startsWith(arguments[1])); if (el) el.click(); return !!el;",
        selector, text), f"no {selector} starting with {text!r}"


def test_pages_show_sort_chart_and_act(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    base, eid, store = server
    browser.get(f"{base}/?token={TOKEN}")
    link = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#exps tbody a"),
                 "the experiments table")[0]
    assert "token=" not in browser.current_url  # read once, kept out of the address bar
    assert "GridSearch-abc" in browser.find_element(By.ID, "exps").text
    link.click()

    _wait(browser, lambda d: len(_rows(d)) == 3, "the trials table")
    assert _rows(browser) == ["m1", "m0", "m2"]  # best val_accuracy first
    assert "m1" in browser.find_element(By.ID, "best").text
    for img in ("curves", "gantt"):
        _wait(browser, lambda d, img=img: d.execute_script(
            f"const i = document.getElementById('{img}'); return i.complete && i.naturalWidth > 0"),
            f"the {img} chart")

    _click(browser, "#trials th", "units")
    _wait(browser, lambda d: _rows(d) == ["m0", "m1", "m2"], "sorting by units")
    _click(browser, "#trials th", "units")
    _wait(browser, lambda d: _rows(d) == ["m2", "m1", "m0"], "sorting by units, descending")

    _click(browser, "#trials tbody a", "m0")
    _wait(browser, lambda d: d.execute_script(
        "const i = document.getElementById('trialcurve'); return i.complete && i.naturalWidth > 0"),
        "the chosen trial's curve")

    assert browser.execute_script(
        "const row = [...document.querySelectorAll('#trials tbody tr')]"
        ".find(r => r.cells[0].textContent === 'm1'); const b = row.querySelector('button.stop');"
        "b.click(); return true;")
    _wait(browser, lambda d: "stop" in d.find_element(By.ID, "cmds").text, "the queued stop")

    from cerebro.records import RecordsDB, queries

    [cmd] = queries.list_commands(RecordsDB(str(store)), eid)
    assert (cmd["action"], cmd["model_id"], cmd["status"]) == ("stop", "m1", "PENDING")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []  # no CSP violation, no failed request


def test_pages_without_the_token_say_so(server, browser):
    from selenium.webdriver.common.by import By

    base, _, _ = server
    browser.get(base + "/")
    _wait(browser, lambda d: "401" in d.find_element(By.ID, "msg").text, "the refusal")
