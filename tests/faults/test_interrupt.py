"""Ctrl-C (SIGINT) on the driver: it stops promptly, leaves no process behind, and the store
stays consistent enough for the same script to resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.faults.test_driver_restart import EPOCHS, SCRIPT, _epochs_done, _run

pytestmark = pytest.mark.slow


def test_ctrl_c_stops_cleanly_and_the_search_resumes(tmp_path):
    store = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(store), "fresh"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).parents[2], start_new_session=True)
    deadline = time.monotonic() + 600
    while _epochs_done(store) < 2:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    stop_s = time.monotonic() - t0
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    time.sleep(3)  # let the JVM and its Python workers notice their parent is gone
    alive = [p for p in family if psutil.pid_exists(p)
             and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"orphans after Ctrl-C: {alive}"
    assert stop_s < 60
    for log in (store / "runs").glob("*/trial_*/log.json"):
        record = json.loads(log.read_text())  # every log is whole JSON (atomic writes)
        if record["state_key"]:
            assert (store / record["state_key"]).exists(), "a log names a missing state"

    resumed = _run(store, "resume")
    assert all(t["epochs"] == EPOCHS for t in resumed["trials"].values())
