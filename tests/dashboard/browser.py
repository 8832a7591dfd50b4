"""Helpers of the headless-Chromium tests: the driver, waits, clicks, screenshots.

Chromium and chromedriver are Debian's (``/usr/bin``); each driver gets a fresh profile and
a download directory. Screenshots go to ``$CEREBRO_ARTIFACTS/browser`` (default
``.artifacts/browser`` in the repository); the tests print where.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

CHROMIUM = (shutil.which("chromium") or shutil.which("chromium-browser")
            or shutil.which("google-chrome"))
DRIVER = shutil.which("chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", "--window-size=1400,1000")
ROOT = pathlib.Path(__file__).resolve().parents[2]


def artifacts(name: str) -> pathlib.Path:
    """The directory this test's screenshots go to (created, and printed)."""
    base = pathlib.Path(os.environ.get("CEREBRO_ARTIFACTS", ROOT / ".artifacts"))
    out = base / "browser" / name
    out.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {out}")
    return out


def chrome(downloads: pathlib.Path):
    """A headless Chromium with a fresh profile, downloads going to ``downloads``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in FLAGS:
        opts.add_argument(arg)
    opts.add_argument("--user-data-dir=" + tempfile.mkdtemp(prefix="cerebro-chrome-"))
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


def wait(driver, predicate, what: str, timeout: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(
        lambda d: predicate(d), message=f"timed out waiting for {what}")


def rows(driver) -> list[str]:
    """The trial ids of the trials table, in order (read in one go: it re-renders)."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#trials tbody tr')].map(r => r.dataset.trial)")


def click(driver, selector: str, text: str) -> None:
    """Clicks the first ``selector`` element whose text starts with ``text`` (found and
    clicked in one script, so a re-render in between cannot leave a stale reference)."""
    assert driver.execute_script(
        "const el = [...document.querySelectorAll(arguments[0])]"
        ".find(e => e.textContent.trim().startsWith(arguments[1])); if (el) el.click(); "
        "return !!el;", selector, text), f"no {selector} starting with {text!r}"


def plotted(driver, selector: str) -> bool:
    """Whether plotly drew into ``selector`` (its SVG/canvas root is there)."""
    return driver.execute_script(
        "const d = document.querySelector(arguments[0]); return !!(d && d.classList.contains("
        "'js-plotly-plot') && d.querySelector('.main-svg'));", selector)


def severe(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def start_dashboard(store: str, token: str, *extra: str):
    """``cerebro dashboard`` on ``store`` in a subprocess; returns (process, base URL)."""
    from .test_cli import _free_port

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cerebro.cli", "dashboard", "--store", store,
                             "--port", str(port), "--token", token, *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/api/health", timeout=5)
            return proc, base
        except (urllib.error.URLError, ConnectionError):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.3)
