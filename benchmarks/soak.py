"""``make soak``: a seeded NAS search under random kills for its whole run (Ray's release test).

The search (``benchmarks/soak_driver.py``, its own driver process) runs once quietly, then
again while, every ``--every`` seconds, with probability ``--p``, a random worker (busy or
idle) is SIGKILLed or SIGSTOPped (even odds); the driver itself is SIGKILLed once, at
``--driver-kill`` of the quiet run's time, and rerun with ``overwrite=False``.

It then asserts that:
- every trial reaches its last epoch (DONE, all epochs);
- each trial's best val accuracy is within ``--tolerance`` of the quiet run's, on a task
  where the trials differ;
- no process of either driver's session is left (no orphans);
- the store holds only each model's newest and best states.

Figures go to ``benchmarks/results/soak.json``. About 10 minutes in all at the defaults
on 2 idle cores (quiet run ~4 min, then the run under fire); a short check:

    python benchmarks/soak.py --trials 4 --epochs 3
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaos import kill_tree, result_of, spark_workers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = os.path.join(ROOT, "benchmarks", "soak_driver.py")


def run_driver(store: str, mode: str, args, log_path: str) -> subprocess.Popen:
    cmd = [sys.executable, DRIVER, store, mode, str(args.trials), str(args.epochs),
           str(args.seed)]
    log = open(log_path, "a")
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT,
                            start_new_session=True)


def cerebro_workers(driver: psutil.Process) -> list[psutil.Process]:
    """The Spark workers that hold a control connection to the driver (not Spark's idle
    Python workers, which a later job might be handed)."""
    try:
        ports = {c.laddr.port for c in driver.net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN}
    except psutil.Error:
        return []
    out = []
    for p in spark_workers(driver):
        try:
            if any(c.raddr and c.raddr.port in ports and c.status == psutil.CONN_ESTABLISHED
                   for c in p.net_connections("tcp")):
                out.append(p)
        except psutil.Error:
            continue
    return out


class Attacker(threading.Thread):
    """Every ``every`` s, with probability ``p``, SIGKILLs or SIGSTOPs a random worker."""

    def __init__(self, every: float, p: float, seed: int) -> None:
        super().__init__(daemon=True)
        self.every, self.p, self.rng = every, p, random.Random(seed)
        self.driver: psutil.Process | None = None
        self.events: list[tuple[float, str, int]] = []
        self.stopped: list[psutil.Process] = []
        self.done = threading.Event()
        self.t0 = time.monotonic()

    def run(self) -> None:
        while not self.done.wait(self.every):
            if self.driver is None or not self.driver.is_running():
                continue
            workers = cerebro_workers(self.driver)
            if not workers:  # the driver is starting Spark: no draw is spent
                continue
            if self.rng.random() >= self.p:
                continue
            victim = self.rng.choice(workers)
            sig = self.rng.choice([signal.SIGKILL, signal.SIGSTOP])
            try:
                os.kill(victim.pid, sig)
            except OSError:
                continue
            if sig == signal.SIGSTOP:
                self.stopped.append(victim)
            self.events.append((time.monotonic() - self.t0, sig.name, victim.pid))
            print(f"  {time.monotonic() - self.t0:6.0f} s: {sig.name} worker {victim.pid}",
                  flush=True)

    def cleanup(self) -> None:
        self.done.set()
        self.join(self.every + 5)
        for p in self.stopped:  # the pool kills a stopped worker it replaces; any left, here
            try:
                p.kill()
            except psutil.Error:
                pass


def orphans(sessions: list[int], grace_s: float = 60.0) -> list[str]:
    """Processes of the drivers' sessions (JVMs, daemons, Python workers) still alive
    ``grace_s`` after the last driver exited (Spark's daemons take a few seconds)."""
    deadline = time.monotonic() + grace_s
    while True:
        left = []
        for p in psutil.process_iter(["pid", "name", "status"]):
            try:
                if os.getsid(p.pid) in sessions and p.info["status"] != psutil.STATUS_ZOMBIE:
                    left.append(f"{p.pid} {p.info['name']}")
            except (OSError, psutil.Error):
                continue
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(1.0)


def extra_states(store_dir: str, project: str = "soak") -> dict[str, list[str]]:
    """Per model, the state files beyond its newest and its best epoch's."""
    runs = os.path.join(store_dir, "runs", project)
    out = {}
    for model_id in sorted(os.listdir(runs)):
        with open(os.path.join(runs, model_id, "log.json")) as f:
            log = json.load(f)
        keep = {os.path.basename(k) for k in (log.get("state_key"), log.get("best_state_key"))
                if k}
        have = {n for n in os.listdir(os.path.join(runs, model_id)) if n.startswith("state-")}
        if have - keep:
            out[model_id] = sorted(have - keep)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--epochs", type=int, default=24)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--every", type=float, default=10.0, help="seconds between draws")
    ap.add_argument("--p", type=float, default=0.3, help="chance of an attack per draw")
    ap.add_argument("--driver-kill", type=float, default=0.5,
                    help="when to kill the driver, as a fraction of the quiet run's time")
    ap.add_argument("--tolerance", type=float, default=0.01)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "soak.json"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="cerebro-soak-")
    log_path = os.path.join(work, "drivers.log")
    print(f"soak: logs in {log_path}", flush=True)

    t0 = time.monotonic()
    quiet = result_of(run_driver(os.path.join(work, "quiet"), "fresh", args, log_path))
    quiet_s = time.monotonic() - t0
    assert quiet, "the undisturbed run failed; see " + log_path
    print(f"quiet run: {quiet_s:.0f} s, best {quiet['best']}", flush=True)

    store = os.path.join(work, "soak")
    attacker = Attacker(args.every, args.p, seed=args.seed)
    t0 = time.monotonic()
    soak, sessions, killed_driver = under_fire(store, args, quiet_s, log_path, attacker)
    soak_s = time.monotonic() - t0
    assert soak, "the rerun under fire failed; see " + log_path

    report = check(quiet, soak, args.tolerance)
    report["orphans"] = orphans(sessions)
    report["extra_states"] = extra_states(store)
    report.update({
        "quiet_s": quiet_s, "soak_s": soak_s, "wall_ratio": soak_s / quiet_s,
        "sigkills": sum(1 for _, s, _ in attacker.events if s == "SIGKILL"),
        "sigstops": sum(1 for _, s, _ in attacker.events if s == "SIGSTOP"),
        "driver_killed": killed_driver, "trials": args.trials, "epochs": args.epochs,
        "every_s": args.every, "p": args.p,
        "quiet_vals": sorted({round(t["val"], 4) for t in quiet["trials"].values()
                              if t["val"] is not None})})
    report["passed"] = (report["all_reached_last_epoch"] and report["within_tolerance"]
                        and report["trials_differ"] and not report["orphans"]
                        and not report["extra_states"])
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1))
    if not report["passed"]:
        sys.exit(1)


def under_fire(store: str, args, quiet_s: float, log_path: str,
               attacker: Attacker) -> tuple[dict | None, list[int], bool]:
    """The search while ``attacker`` fires, its driver killed once and rerun; returns the
    rerun's result, both drivers' session ids and whether the kill came before the end."""
    attacker.start()
    t0 = time.monotonic()
    first = run_driver(store, "fresh", args, log_path)
    sessions = [first.pid]
    attacker.driver = psutil.Process(first.pid)
    try:
        first.wait(timeout=args.driver_kill * quiet_s)
        killed_driver = False
    except subprocess.TimeoutExpired:
        kill_tree(first)
        killed_driver = True
    print(f"driver killed: {killed_driver} at {time.monotonic() - t0:.0f} s", flush=True)
    second = run_driver(store, "resume", args, log_path)
    sessions.append(second.pid)
    attacker.driver = psutil.Process(second.pid)
    try:
        return result_of(second), sessions, killed_driver
    finally:
        attacker.cleanup()


def check(quiet: dict, soak: dict, tolerance: float) -> dict:
    """Every trial of the quiet run reached its last epoch under fire, scoring the same."""
    missing = [t for t in quiet["trials"] if t not in soak["trials"]]
    unfinished = [t for t, r in soak["trials"].items()
                  if r["status"] != "DONE" or r["epochs"] != quiet["trials"].get(t, r)["epochs"]]
    diffs = {t: abs(soak["trials"][t]["val"] - q["val"]) for t, q in quiet["trials"].items()
             if t in soak["trials"] and q["val"] is not None
             and soak["trials"][t]["val"] is not None}
    vals = [q["val"] for q in quiet["trials"].values() if q["val"] is not None]
    return {"all_reached_last_epoch": not missing and not unfinished
            and len(soak["trials"]) == len(quiet["trials"]),
            "missing": missing, "unfinished": unfinished,
            "max_abs_val_diff": max(diffs.values()) if diffs else None,
            "within_tolerance": len(diffs) == len(quiet["trials"])
            and all(d <= tolerance for d in diffs.values()),
            "trials_differ": len(set(vals)) > 1 and min(vals) < 1.0,
            "restarts_after_rerun": soak["stats"].get("restarts"),
            "lost_visits_after_rerun": soak["stats"].get("lost_visits"),
            "best_quiet": quiet["best"], "best_soak": soak["best"]}


if __name__ == "__main__":
    main()
