"""Progress a person can watch: a live ``rich`` view on a terminal, plain lines elsewhere.

It listens to the search's events (``ModelAdded``, ``VisitDone``, ``EpochEnd``, ``ModelDone``,
``ModelFailed``, ``ModelResumed`` of ``cerebro.wire``) and shows trials running/done/failed out of the budget,
each running trial's epoch, sub-epoch and latest metrics, elapsed time, ETA and the best so
far; it ends with a summary table of every trial, hyperparameters wrapped, never cut.

A trial's score is the engine's best epoch (KerasTuner's: the objective's best epoch by its
direction, carried by ``EpochEnd``/``ModelDone``), shown with the epoch it came from
(1-based, as the records and the dashboard show it). Without a terminal,
lines go to stderr with no logging set-up: one per finished or failed trial, and a status
line at most every ``interval_s`` seconds. ``verbose=0`` prints nothing.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable, Optional, TextIO

from cerebro.metrics import is_maximized
from cerebro.wire import (EpochEnd, Event, Listener, ModelAdded, ModelDone, ModelFailed,
                          ModelResumed, VisitDone)


class ProgressReporter(Listener):
    """Search listener that renders progress.

    Args:
        total: The trial budget (``max_trials``), for "N of M" and the ETA.
        metric: The objective (e.g. ``val_accuracy``).
        num_partitions: Sub-epochs per epoch.
        verbose: 0 silent; 1 live display on a terminal, else plain lines on stderr.
        params: Optional ``model_id -> hyperparameters`` lookup for the summary.
        direction: ``"max"`` or ``"min"``; default from the metric's name.
        console: A ``rich`` console for the live view (default: a terminal's, if any).
        stream: Where plain lines go without a terminal (default ``sys.stderr``).
        interval_s: Least seconds between two plain status lines.
    """

    def __init__(self, total: Optional[int], metric: str, num_partitions: int, verbose: int = 1,
                 params: Optional[Callable[[str], Any]] = None, direction: Optional[str] = None,
                 console: Any = None, stream: Optional[TextIO] = None,
                 interval_s: float = 10.0) -> None:
        self.total, self.metric, self.P, self.verbose = total, metric, num_partitions, verbose
        self.params = params or (lambda model_id: {})
        self.maximize = (direction == "max") if direction else is_maximized(metric)
        self.t0 = time.monotonic()
        self.models: dict[str, dict[str, Any]] = {}
        self.interval_s = float(interval_s)
        self._stream = stream
        self._last_line = -math.inf
        self._live: Any = None
        self._console = console
        if verbose and (console is not None or (stream is None and sys.stdout.isatty())):
            from rich.console import Console
            from rich.live import Live

            self._console = console or Console()
            self._live = Live(self._render(), console=self._console, refresh_per_second=2,
                              transient=False)
            self._live.start()

    # -- listener ---------------------------------------------------------------------------
    def _model(self, event: Event, epochs: Optional[int] = None) -> dict[str, Any]:
        return self.models.setdefault(event.model_id, {
            "status": "RUNNING", "epoch": 0, "visits": 0, "epochs": epochs, "metrics": {},
            "history": [], "best": None, "best_epoch": None, "started": time.monotonic()})

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def on_model_added(self, event: ModelAdded) -> None:
        m = self._model(event, event.epochs)
        m["epochs"] = event.epochs or m["epochs"]
        self._refresh()

    def on_model_resumed(self, event: ModelResumed) -> None:
        m = self._model(event)
        m["status"], m["epochs"] = "RUNNING", event.epochs
        m.pop("ended", None)
        self._refresh()

    def on_visit_done(self, event: VisitDone) -> None:
        m = self._model(event)
        m["visits"] += int(event.kind == "train")
        m["epoch"] = event.epoch
        self._refresh()

    def on_epoch_end(self, event: EpochEnd) -> None:
        m = self._model(event)
        m["metrics"], m["visits"] = dict(event.metrics), 0
        m["history"].append(dict(event.metrics))
        m["epoch"] = event.epoch + 1
        m["best"], m["best_epoch"] = event.best_value, event.best_epoch
        if self._plain and time.monotonic() - self._last_line >= self.interval_s:
            self._line(f"{self._counts()}; running: {self._running_summary()}")
        self._refresh()

    def on_model_failed(self, event: ModelFailed) -> None:
        m = self._model(event)
        m["ended"] = time.monotonic()
        m["status"], m["error"] = "FAILED", event.error
        if self._plain:
            first = event.error.splitlines()[0] if event.error else ""
            self._line(f"{event.model_id} FAILED: {first} | {self._counts()}")
        self._refresh()

    def on_model_done(self, event: ModelDone) -> None:
        m = self._model(event)
        m["ended"] = time.monotonic()
        m["status"] = str(event.status)
        m["best"], m["best_epoch"] = event.best_value, event.best_epoch
        m["stop_reason"] = event.stop_reason
        if self._plain:
            early = f" (stopped early: {event.stop_reason})" if event.stop_reason else ""
            self._line(f"{event.model_id} {m['status']} after {len(m['history'])} epoch(s)"
                       f"{early}: {self._score(m)} | {self._counts()}")
        self._refresh()

    # -- figures ----------------------------------------------------------------------------
    @property
    def _plain(self) -> bool:
        return bool(self.verbose) and self._live is None

    def _line(self, text: str) -> None:
        self._last_line = time.monotonic()
        print(f"[cerebro {self._elapsed()}] {text}", file=self._stream or sys.stderr, flush=True)

    def _elapsed(self) -> str:
        return _fmt(time.monotonic() - self.t0)

    def best(self) -> tuple[Optional[str], Optional[float]]:
        """The trial with the best score so far, and that score."""
        scored = [(mid, m["best"]) for mid, m in self.models.items() if _finite(m["best"])]
        if not scored:
            return None, None
        return max(scored, key=lambda t: t[1]) if self.maximize else min(scored, key=lambda t: t[1])

    def _score(self, m: dict[str, Any]) -> str:
        if not _finite(m["best"]):
            return f"no {self.metric} yet"
        epoch = f" (epoch {m['best_epoch'] + 1})" if m["best_epoch"] is not None else ""
        return f"best {self.metric}={m['best']:.4f}{epoch}"

    def eta(self) -> Optional[float]:
        finished = [m for m in self.models.values() if "ended" in m]
        if not self.total or not finished:
            return None
        per_trial = (time.monotonic() - self.t0) / len(finished)
        remaining = max(0, self.total - len(finished))
        return per_trial * remaining if remaining else 0.0

    def _counts(self) -> str:
        st = [m["status"] for m in self.models.values()]
        running, failed = st.count("RUNNING"), st.count("FAILED")
        of = f"/{self.total}" if self.total else ""
        best_id, _ = self.best()
        best = f", {self._score(self.models[best_id])} ({best_id})" if best_id else ""
        early = sum(1 for m in self.models.values() if m.get("stop_reason"))
        stopped = f" ({early} stopped early)" if early else ""
        return (f"{running} running, {len(st) - running - failed}{of} done{stopped}, "
                f"{failed} failed{best}")

    def _running_summary(self) -> str:
        running = [(mid, m) for mid, m in self.models.items() if m["status"] == "RUNNING"]
        shown = [f"{mid} epoch {m['epoch']}/{m['epochs'] or '?'}" for mid, m in running[:4]]
        return ", ".join(shown) + (f" (+{len(running) - 4})" if len(running) > 4 else "") or "-"

    def _render(self) -> Any:
        from rich.table import Table

        eta = self.eta()
        title = f"Cerebro search — {self._counts()} — elapsed {self._elapsed()}"
        if eta is not None:
            title += f", ETA {_fmt(eta)}"
        table = Table(title=title, expand=False)
        for col in ("trial", "status", "epoch", "sub-epoch", self.metric, "best (epoch)"):
            table.add_column(col)
        for mid, m in list(self.models.items())[-12:]:
            best = "" if not _finite(m["best"]) else (
                f"{m['best']:.4f} ({(m['best_epoch'] or 0) + 1})")
            table.add_row(mid, _status(m), f"{m['epoch']}/{m['epochs'] or '?'}",
                          f"{m['visits']}/{self.P}", _num(m["metrics"].get(self.metric)), best)
        return table

    def summary_table(self) -> Any:
        """A ``rich`` table of every trial, best first: score, its epoch, hyperparameters."""
        from rich.table import Table

        table = Table(title=f"Trials (best {self.metric} first)")
        for col in ("trial", "status", "epochs", f"best {self.metric}", "at epoch"):
            table.add_column(col, no_wrap=True)
        table.add_column("hyperparameters", overflow="fold", min_width=24)  # one per line
        why = any(m.get("stop_reason") for m in self.models.values())
        if why:
            table.add_column("why stopped early", overflow="fold", min_width=24)

        def rank(item: tuple[str, dict[str, Any]]) -> tuple[int, float]:
            v = item[1]["best"]
            return (1, 0.0) if not _finite(v) else (0, -v if self.maximize else v)

        for mid, m in sorted(self.models.items(), key=rank):
            params = "\n".join(f"{k.split('/')[-1]}={v}" for k, v in self.params(mid).items()
                                if not k.startswith("tuner/"))
            epoch = "" if m["best_epoch"] is None or not _finite(m["best"]) else str(
                m["best_epoch"] + 1)
            table.add_row(mid, _status(m), str(len(m["history"])), _num(m["best"]), epoch,
                          params, *([m.get("stop_reason") or ""] if why else []))
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


def _status(m: dict[str, Any]) -> str:
    return f"{m['status']} early" if m.get("stop_reason") else str(m["status"])


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _num(v: Any) -> str:
    return f"{v:.4f}" if _finite(v) else ""


def _fmt(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
