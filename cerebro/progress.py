"""Progress a person can watch: a live ``rich`` view on a terminal, log lines elsewhere.

It listens to the model hopper's events (``model_added``, ``visit_done``, ``epoch_end``,
``model_done``, ``model_failed``) and shows trials running/done/failed out of the budget,
each running trial's epoch, sub-epoch and latest metrics, elapsed time, ETA and the best so
far; it ends with a summary table of every trial.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Optional

from cerebro._logging import get_logger
from cerebro.metrics import ranking_key

log = get_logger("progress")


class ProgressReporter:
    """Hopper listener that renders progress.

    Args:
        total: The trial budget (``max_trials``), for "N of M" and the ETA.
        metric: The metric that ranks trials (e.g. ``val_accuracy``).
        num_partitions: Sub-epochs per epoch.
        verbose: 0 silent; 1 live display on a TTY, else a log line per epoch.
        params: Optional ``model_id -> hyperparameters`` lookup for the summary.
    """

    def __init__(self, total: Optional[int], metric: str, num_partitions: int, verbose: int = 1,
                 params=None, console=None):
        self.total, self.metric, self.P, self.verbose = total, metric, num_partitions, verbose
        self.params = params or (lambda model_id: {})
        self.t0 = time.monotonic()
        self.models: dict[str, dict] = {}
        self._key = ranking_key(metric)
        self._live = None
        self._console = console
        if verbose and (console is not None or sys.stdout.isatty()):
            from rich.console import Console
            from rich.live import Live

            self._console = console or Console()
            self._live = Live(self._render(), console=self._console, refresh_per_second=2,
                              transient=False)
            self._live.start()

    # -- listener ---------------------------------------------------------------------------
    def __call__(self, kind: str, payload: dict) -> None:
        mid = payload.get("model_id")
        m = self.models.setdefault(mid, {"status": "RUNNING", "epoch": 0, "visits": 0,
                                         "epochs": payload.get("epochs"), "metrics": {},
                                         "history": [], "started": time.monotonic()})
        if kind == "visit_done":
            m["visits"] += int(payload["kind"] == "train")
            m["epoch"] = payload["epoch"]
        elif kind == "epoch_end":
            m["metrics"], m["visits"] = payload["metrics"], 0
            m["history"].append(payload["metrics"])
            m["epoch"] = payload["epoch"] + 1
            if self.verbose and self._live is None:
                shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted(payload["metrics"].items()))
                log.info("[%s] %s epoch %d: %s | %s", self._elapsed(), mid, payload["epoch"] + 1,
                         shown, self._counts())
        elif kind == "model_done":
            m["status"] = payload.get("status", "DONE")
            m["ended"] = time.monotonic()
        elif kind == "model_failed":
            m["status"], m["error"] = "FAILED", payload.get("error", "")
            m["ended"] = time.monotonic()
            if self.verbose and self._live is None:
                log.warning("%s FAILED: %s", mid, m["error"])
        if self._live is not None:
            self._live.update(self._render())

    # -- figures ----------------------------------------------------------------------------
    def _elapsed(self) -> str:
        return _fmt(time.monotonic() - self.t0)

    def _value(self, m) -> Optional[float]:
        return m["metrics"].get(self.metric)

    def best(self) -> tuple[Optional[str], Optional[float]]:
        done = [(mid, self._value(m)) for mid, m in self.models.items() if self._value(m) is not None]
        if not done:
            return None, None
        mid, v = min(done, key=lambda t: self._key(t[1]))
        return mid, v

    def eta(self) -> Optional[float]:
        finished = [m for m in self.models.values() if "ended" in m]
        if not self.total or not finished:
            return None
        per_trial = (time.monotonic() - self.t0) / len(finished)
        remaining = max(0, self.total - len(finished))
        return per_trial * remaining if remaining else 0.0

    def _counts(self) -> str:
        st = [m["status"] for m in self.models.values()]
        running = st.count("RUNNING")
        failed = st.count("FAILED")
        done = len(st) - running - failed
        of = f"/{self.total}" if self.total else ""
        best_id, best_v = self.best()
        best = f", best {self.metric}={best_v:.4f} ({best_id})" if best_id else ""
        return f"{running} running, {done}{of} done, {failed} failed{best}"

    def _render(self):
        from rich.table import Table

        eta = self.eta()
        title = f"Cerebro search — {self._counts()} — elapsed {self._elapsed()}"
        if eta is not None:
            title += f", ETA {_fmt(eta)}"
        table = Table(title=title, expand=False)
        for col in ("trial", "status", "epoch", "sub-epoch", self.metric, "val_loss"):
            table.add_column(col)
        for mid, m in list(self.models.items())[-12:]:
            v = self._value(m)
            table.add_row(mid, m["status"], f"{m['epoch']}/{m['epochs'] or '?'}",
                          f"{m['visits']}/{self.P}", "" if v is None else f"{v:.4f}",
                          _num(m["metrics"].get("val_loss")))
        return table

    def summary_table(self):
        """A ``rich`` table of every trial: hyperparameters, final metrics, status."""
        from rich.table import Table

        table = Table(title="Trials (best first)")
        for col in ("trial", "status", "epochs", self.metric, "val_loss", "hyperparameters"):
            table.add_column(col, overflow="fold")
        rows = sorted(self.models.items(), key=lambda kv: self._key(self._value(kv[1])))
        for mid, m in rows:
            params = ", ".join(f"{k.split('/')[-1]}={v}" for k, v in self.params(mid).items()
                               if not k.startswith("tuner/"))
            table.add_row(mid, m["status"], str(len(m["history"])), _num(self._value(m)),
                          _num(m["metrics"].get("val_loss")), params[:120])
        return table

    def close(self) -> None:
        """Stops the live view and prints the summary table (unless silent)."""
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
        if not self.verbose:
            return
        from rich.console import Console

        console = self._console or Console(file=sys.stdout, force_terminal=False, width=140)
        console.print(self.summary_table())


def _num(v) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def _fmt(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
