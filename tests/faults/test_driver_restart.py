"""The driver is SIGKILLed at ~60% of a NAS search; the same script with overwrite=False
finishes it, keeping finished trials and continuing running ones from their last sub-epoch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("driver_script.py")
TRIALS, EPOCHS = 4, 4


def _run(store: Path, mode: str, timeout: float = 600) -> dict:
    out = subprocess.run([sys.executable, str(SCRIPT), str(store), mode], capture_output=True,
                         text=True, timeout=timeout, cwd=Path(__file__).parents[2])
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    assert out.returncode == 0 and lines, out.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def _epochs_done(store: Path) -> int:
    total = 0
    for log in (store / "runs").glob("*/trial_*/log.json"):
        try:
            total += json.loads(log.read_text())["epochs_done"]
        except (OSError, ValueError, KeyError):
            pass  # a log being replaced right now
    return total


def test_driver_kill_then_rerun_resumes(tmp_path):
    fresh = _run(tmp_path / "fresh", "fresh")
    assert all(t["epochs"] == EPOCHS for t in fresh["trials"].values())

    store = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(store), "fresh"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=Path(__file__).parents[2], start_new_session=True)
    deadline = time.monotonic() + 600
    try:
        while _epochs_done(store) < 0.6 * TRIALS * EPOCHS:
            assert proc.poll() is None, "the search ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver, its JVM and its Python workers
        proc.wait()
    done_at_kill = _epochs_done(store)
    logs_at_kill = {p.parent: json.loads(p.read_text())
                    for p in (store / "runs").glob("*/trial_*/log.json")}

    resumed = _run(store, "resume")
    assert set(resumed["trials"]) == set(fresh["trials"])
    assert all(t["epochs"] == EPOCHS for t in resumed["trials"].values()), resumed
    # Finished trials were kept, not retrained; running ones lost at most one sub-epoch.
    trained_again = resumed["stats"]["visits"]
    assert _epochs_done(store) == TRIALS * EPOCHS
    for run_dir, log in logs_at_kill.items():
        final = json.loads((run_dir / "log.json").read_text())
        for epoch, parts in log["visit_log"].items():
            assert final["visit_log"][epoch][: len(parts)] == parts  # the same visit order
    visits_per_epoch = 2 * 2  # 2 train + 2 eval visits with 2 workers
    assert trained_again <= (TRIALS * EPOCHS - done_at_kill) * visits_per_epoch + 2 * TRIALS
    assert resumed["seconds"] < 0.8 * fresh["seconds"], (resumed["seconds"], fresh["seconds"])
