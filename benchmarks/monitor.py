"""Peak RSS of process trees, and CPU used outside them, by polling with psutil.

Each system runs in its own subprocess(es); the monitor follows every descendant (the JVM,
PySpark's daemon and its forked workers, KerasTuner's chief and workers) and keeps each
process's peak RSS and the peak of the tree's total. A spike shorter than the interval can
be missed; peaks are a lower bound within that resolution.

It also measures the machine's CPU time spent *outside* the trees while they run (busy
CPU time of the whole machine minus the trees' own): other work on a shared machine skews
wall times, and this says by how much.
"""

from __future__ import annotations

import threading
import time

import psutil


def _role(proc: psutil.Process, roots: dict[int, str]) -> str:
    if proc.pid in roots:
        return roots[proc.pid]
    try:
        cmd = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "?"
    if "java" in proc.name() or "org.apache.spark" in cmd:
        return "spark-jvm"
    if "cerebro.backend.daemon" in cmd:
        return "pyspark-daemon"  # cerebro's daemon: torch and Keras imported, forks workers
    if "pyspark.daemon" in cmd or "pyspark/daemon" in cmd:
        return "pyspark-python"  # the daemon and the workers it forks share a command line
    return proc.name()


class TreeMonitor:
    """Polls the trees under ``roots`` ({pid: role}) until ``stop()``."""

    def __init__(self, roots: dict[int, str], interval: float = 0.2):
        self.roots = dict(roots)
        self.interval = interval
        self.peaks: dict[int, dict] = {}  # pid -> {"role", "peak_rss", "first_t", "last_t"}
        self.peak_total = 0
        self._cpu: dict[int, float] = {}  # pid -> latest user + system CPU seconds
        self._busy0 = self._busy1 = self._busy()
        self._wall0 = self._wall1 = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-monitor", daemon=True)

    def add_root(self, pid: int, role: str) -> None:
        self.roots[pid] = role

    def start(self) -> "TreeMonitor":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._busy1, self._wall1 = self._busy(), time.time()

    @staticmethod
    def _busy() -> float:
        t = psutil.cpu_times()
        return sum(t) - t.idle - getattr(t, "iowait", 0.0)

    def _procs(self):
        for pid in list(self.roots):
            try:
                root = psutil.Process(pid)
                yield root
                yield from root.children(recursive=True)
            except psutil.NoSuchProcess:
                continue

    def _loop(self) -> None:
        seen: set[int] = set()
        while not self._stop.is_set():
            total, now, current = 0, time.time(), set()
            for proc in self._procs():
                try:
                    rss = proc.memory_info().rss
                    cpu = proc.cpu_times()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                self._cpu[proc.pid] = cpu.user + cpu.system
                current.add(proc.pid)
                if proc.pid in seen or proc.pid in self.roots:
                    # A child seen for the first time may be a fork about to exec, whose RSS
                    # is its parent's shared pages: it counts from its second poll on.
                    total += rss
                rec = self.peaks.get(proc.pid)
                if rec is None:
                    rec = self.peaks[proc.pid] = {"role": "?", "peak_rss": 0,
                                                  "first_t": now, "last_t": now}
                if rec["role"] in ("?", "bash", "sh"):  # a launcher script may exec a JVM
                    rec["role"] = _role(proc, self.roots)
                rec["peak_rss"] = max(rec["peak_rss"], rss)
                rec["last_t"] = now
            self.peak_total = max(self.peak_total, total)
            seen = current
            self._stop.wait(self.interval)

    def summary(self) -> dict:
        """Per-process peaks (MB) and the tree's peak total (MB)."""
        mb = 1024 * 1024
        procs = [{"pid": pid, "role": r["role"], "peak_rss_mb": round(r["peak_rss"] / mb, 1),
                  "alive_s": round(r["last_t"] - r["first_t"], 1)}
                 for pid, r in sorted(self.peaks.items())
                 if pid in self.roots or r["last_t"] > r["first_t"]]  # not one-poll forks
        ours = sum(self._cpu.values())
        other = max(0.0, self._busy1 - self._busy0 - ours)
        wall = max(1e-9, self._wall1 - self._wall0)
        return {"processes": procs, "peak_total_mb": round(self.peak_total / mb, 1),
                "sum_of_peaks_mb": round(sum(p["peak_rss_mb"] for p in procs), 1),
                "cpu_s": round(ours, 1), "other_cpu_s": round(other, 1),
                "other_cores": round(other / wall, 2)}
