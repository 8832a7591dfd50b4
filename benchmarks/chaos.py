"""``make chaos``: a seeded search under fire, compared with the same search undisturbed.

The search (``benchmarks/chaos_driver.py``, its own driver process) runs once quietly, then
again while this script SIGKILLs a random busy Spark worker every ``--every`` seconds,
SIGSTOPs one worker once, and SIGKILLs the driver itself at ``--driver-kill`` of the quiet
run's time, then reruns it with ``overwrite=False``. At the end every trial must be
accounted for (DONE with all its epochs) and each trial's metrics are compared with the
quiet run's. Figures go to ``benchmarks/results/chaos.json``.

    python benchmarks/chaos.py --trials 6 --epochs 4 --every 60
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = os.path.join(ROOT, "benchmarks", "chaos_driver.py")


def spark_workers(driver: psutil.Process) -> list[psutil.Process]:
    """The forked Python workers (children of a daemon) under the driver process."""
    def is_daemon(p: psutil.Process) -> bool:
        cmd = " ".join(p.cmdline())
        return "pyspark.daemon" in cmd or "cerebro.backend.daemon" in cmd

    out = []
    for p in driver.children(recursive=True):
        try:
            parent = p.parent()
            if is_daemon(p) and parent is not None and is_daemon(parent):
                out.append(p)
        except psutil.Error:
            continue
    return out


def busiest(driver: psutil.Process) -> psutil.Process | None:
    workers = spark_workers(driver)
    for p in workers:
        try:
            p.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(0.5)
    ranked = []
    for p in workers:
        try:
            ranked.append((p.cpu_percent(None), p))
        except psutil.Error:
            continue
    ranked.sort(key=lambda t: t[0], reverse=True)
    return ranked[0][1] if ranked and ranked[0][0] > 20 else None


def run_driver(store: str, mode: str, args, log_path: str) -> subprocess.Popen:
    cmd = [sys.executable, DRIVER, store, mode, str(args.trials), str(args.epochs),
           str(args.seed)]
    log = open(log_path, "a")
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT,
                            start_new_session=True)


def result_of(proc: subprocess.Popen) -> dict | None:
    out, _ = proc.communicate()
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return None


class Attacker(threading.Thread):
    """Kills a busy worker every ``every`` s (jittered) and stops one once."""

    def __init__(self, every: float, stop_at: float, seed: int) -> None:
        super().__init__(daemon=True)
        self.every, self.stop_at, self.rng = every, stop_at, random.Random(seed)
        self.driver: psutil.Process | None = None
        self.kills: list[float] = []
        self.stops: list[psutil.Process] = []
        self.done = threading.Event()
        self.t0 = time.monotonic()

    def run(self) -> None:
        next_kill = self.every * self.rng.uniform(0.7, 1.3)
        while not self.done.wait(1.0):
            now = time.monotonic() - self.t0
            if self.driver is None or not self.driver.is_running():
                continue
            if not self.stops and now >= self.stop_at:
                victim = busiest(self.driver)
                if victim is not None:
                    os.kill(victim.pid, signal.SIGSTOP)
                    self.stops.append(victim)
            if now >= next_kill:
                victim = busiest(self.driver)
                if victim is not None:
                    os.kill(victim.pid, signal.SIGKILL)
                    self.kills.append(now)
                    next_kill = now + self.every * self.rng.uniform(0.7, 1.3)

    def cleanup(self) -> None:
        self.done.set()
        for p in self.stops:
            try:
                p.kill()
            except psutil.Error:
                pass


def kill_tree(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--every", type=float, default=60.0, help="seconds between worker kills")
    ap.add_argument("--driver-kill", type=float, default=0.6,
                    help="when to kill the driver, as a fraction of the quiet run's time")
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "chaos.json"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="cerebro-chaos-")
    log_path = os.path.join(work, "drivers.log")
    print(f"chaos: logs in {log_path}", flush=True)

    t0 = time.monotonic()
    quiet = result_of(run_driver(os.path.join(work, "quiet"), "fresh", args, log_path))
    quiet_s = time.monotonic() - t0
    assert quiet, "the undisturbed run failed; see " + log_path
    print(f"quiet run: {quiet_s:.0f} s", flush=True)

    store = os.path.join(work, "chaos")
    attacker = Attacker(args.every, stop_at=0.3 * quiet_s, seed=args.seed)
    attacker.start()
    t0 = time.monotonic()
    first = run_driver(store, "fresh", args, log_path)
    attacker.driver = psutil.Process(first.pid)
    try:
        first.wait(timeout=args.driver_kill * quiet_s)
        killed_driver = False
    except subprocess.TimeoutExpired:
        kill_tree(first)
        killed_driver = True
    print(f"driver killed: {killed_driver} at {time.monotonic() - t0:.0f} s", flush=True)
    second = run_driver(store, "resume", args, log_path)
    attacker.driver = psutil.Process(second.pid)
    chaos = result_of(second)
    chaos_s = time.monotonic() - t0
    attacker.cleanup()
    assert chaos, "the chaos rerun failed; see " + log_path

    report = compare(quiet, chaos)
    report.update({"quiet_s": quiet_s, "chaos_s": chaos_s, "wall_ratio": chaos_s / quiet_s,
                   "worker_kills": len(attacker.kills), "worker_stops": len(attacker.stops),
                   "driver_killed": killed_driver, "trials": args.trials,
                   "epochs": args.epochs, "every_s": args.every})
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1))
    if not report["all_accounted_for"]:
        sys.exit(1)


def compare(quiet: dict, chaos: dict) -> dict:
    """Every trial of the quiet run finished in the chaos run, with the same metrics."""
    missing = [t for t in quiet["trials"] if t not in chaos["trials"]]
    unfinished = [t for t, r in chaos["trials"].items()
                  if r["status"] != "DONE" or r["epochs"] != quiet["trials"].get(t, r)["epochs"]]
    diffs = [abs(chaos["trials"][t]["val"] - q["val"]) for t, q in quiet["trials"].items()
             if t in chaos["trials"] and q["val"] is not None
             and chaos["trials"][t]["val"] is not None]
    return {"all_accounted_for": not missing and not unfinished, "missing": missing,
            "unfinished": unfinished, "max_abs_val_diff": max(diffs) if diffs else None,
            "restarts": chaos["stats"].get("restarts"),
            "lost_visits": chaos["stats"].get("lost_visits"),
            "redone_s": chaos["stats"].get("redone_s"),
            "best_quiet": quiet["best"], "best_chaos": chaos["best"]}


if __name__ == "__main__":
    main()
