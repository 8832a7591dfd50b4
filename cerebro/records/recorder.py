"""``Recorder``: a model-hopper listener that writes a search's records as it runs.

It turns the hopper's events into rows (one short transaction per event):
``model_added`` → a trial; ``visit_done`` → a schedule row; ``epoch_end`` → metric rows;
``model_done``/``model_failed``/``model_resumed`` → the trial's status. Its
:meth:`Recorder.commands` is the hopper's command source: the dashboard's pending
``commands`` rows for this experiment, each with an ``ack`` that records the outcome.

A database error never stops the search: it is logged and the event is dropped.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Callable, Optional

from sqlalchemy import select

from cerebro._logging import get_logger
from cerebro.records.db import RecordsDB
from cerebro.records.models import (APPLIED, PENDING, REJECTED, Command, EpochMetric, Experiment,
                                    Trial, Visit, utcnow)

log = get_logger("records")


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values: numpy scalars unwrapped, NaN/inf as ``None``."""
    def default(o):
        item = getattr(o, "item", None)
        if callable(item):
            return item()
        if isinstance(o, (set, tuple)):
            return list(o)
        return str(o)

    def clean(o):
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, list):
            return [clean(v) for v in o]
        return o

    return clean(json.loads(json.dumps(obj, default=default)))


class Recorder:
    """Hopper listener (``recorder(kind, payload)``) that records a search in a database.

    Args:
        target: A ``Store`` (records in ``<root>/cerebro.db``), a SQLAlchemy URL or a path.
        experiment_name: Name shown by the dashboard and the report.
        kind: ``"tune"`` or ``"nas"``.
        metric: The metric that ranks trials (e.g. ``val_accuracy``).
        num_workers: Workers (partitions) of the search.
        budget: Planned number of trials, if known.
        params: ``model_id -> hyperparameters`` lookup, called when a model is added.
        config: Anything else worth keeping about the search (JSON).
    """

    def __init__(self, target, experiment_name: str, *, kind: str = "tune",
                 metric: str = "val_loss", num_workers: Optional[int] = None,
                 budget: Optional[int] = None,
                 params: Optional[Callable[[str], dict]] = None,
                 config: Optional[dict] = None):
        self.db = target if isinstance(target, RecordsDB) else RecordsDB(target)
        self.params = params or (lambda model_id: {})
        self._t0 = time.monotonic()
        self._trials: dict[str, int] = {}
        self._finished = False
        with self.db.session() as s:
            exp = Experiment(name=experiment_name, kind=kind, metric=metric,
                             num_workers=num_workers, budget=budget,
                             config=jsonable(config or {}), stats={}, error="")
            s.add(exp)
            s.flush()
            self.experiment_id: int = exp.id
        log.info("recording experiment %d (%s) in %r", self.experiment_id, experiment_name, self.db)

    # -- listener ---------------------------------------------------------------------------
    def __call__(self, kind: str, payload: dict) -> None:
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            return
        try:
            handler(payload)
        except Exception as e:  # noqa: BLE001 - records must never stop a search
            log.warning("could not record %s of %s: %s", kind, payload.get("model_id"), e)

    def _trial(self, s, model_id: str) -> Trial:
        tid = self._trials.get(model_id)
        row = s.get(Trial, tid) if tid is not None else None
        if row is not None:
            return row  # (an id cached from a transaction that rolled back finds nothing)
        row = s.scalar(select(Trial).where(Trial.experiment_id == self.experiment_id,
                                           Trial.model_id == model_id))
        if row is None:
            row = Trial(experiment_id=self.experiment_id, model_id=model_id, hyperparameters={},
                        last_metrics={}, error="", epochs_planned=0, epochs_done=0)
            s.add(row)
            s.flush()
        self._trials[model_id] = row.id
        return row

    def _on_model_added(self, p: dict) -> None:
        try:
            params = jsonable(dict(self.params(p["model_id"]) or {}))
        except Exception as e:  # noqa: BLE001
            log.debug("no hyperparameters for %s: %s", p["model_id"], e)
            params = {}
        with self.db.session() as s:
            t = self._trial(s, p["model_id"])
            t.hyperparameters, t.status = params, "RUNNING"
            t.epochs_planned = int(p.get("epochs") or 0)
            t.updated_at = utcnow()

    def _on_visit_done(self, p: dict) -> None:
        end = time.monotonic() - self._t0
        with self.db.session() as s:
            t = self._trial(s, p["model_id"])
            s.add(Visit(experiment_id=self.experiment_id, trial_id=t.id, worker=int(p["partition"]),
                        kind=str(p["kind"]), epoch=int(p["epoch"]) + 1,
                        start_s=max(0.0, end - float(p.get("seconds", 0.0))), end_s=end))

    def _on_epoch_end(self, p: dict) -> None:
        metrics = jsonable(p["metrics"])
        epoch = int(p["epoch"]) + 1
        now = utcnow()
        with self.db.session() as s:
            t = self._trial(s, p["model_id"])
            for name, value in metrics.items():
                s.add(EpochMetric(trial_id=t.id, epoch=epoch, name=name, value=value,
                                  recorded_at=now))
            t.epochs_done, t.last_metrics, t.updated_at = epoch, metrics, now
            s.get(Experiment, self.experiment_id).updated_at = now

    def _end_trial(self, model_id: str, status: str, error: str = "") -> None:
        with self.db.session() as s:
            t = self._trial(s, model_id)
            t.status, t.ended_at, t.updated_at = status, utcnow(), utcnow()
            if error:
                t.error = error

    def _on_model_done(self, p: dict) -> None:
        self._end_trial(p["model_id"], str(p.get("status", "DONE")))

    def _on_model_failed(self, p: dict) -> None:
        self._end_trial(p["model_id"], "FAILED", str(p.get("error", "")))

    def _on_model_resumed(self, p: dict) -> None:
        with self.db.session() as s:
            t = self._trial(s, p["model_id"])
            t.status, t.ended_at, t.updated_at = "RUNNING", None, utcnow()
            t.epochs_planned = int(p.get("epochs") or t.epochs_planned)

    # -- commands ---------------------------------------------------------------------------
    def commands(self) -> list[dict]:
        """Pending commands for this experiment, oldest first, as the hopper applies them.

        Each is ``{"id", "action", "model_id", "params", "epochs", "ack"}``; ``ack(ok,
        message, model_id=None)`` marks the row ``APPLIED`` or ``REJECTED``. A resume
        without ``epochs`` gets the trial's remaining planned epochs.
        """
        try:
            with self.db.session() as s:
                rows = s.scalars(select(Command).where(
                    Command.experiment_id == self.experiment_id, Command.status == PENDING)
                    .order_by(Command.id)).all()
                out = []
                for c in rows:
                    epochs = c.epochs
                    if c.action == "resume" and epochs is None and c.model_id:
                        t = s.scalar(select(Trial).where(Trial.experiment_id == self.experiment_id,
                                                         Trial.model_id == c.model_id))
                        if t is not None and t.epochs_planned > t.epochs_done:
                            epochs = t.epochs_planned - t.epochs_done
                    out.append({"id": c.id, "action": c.action, "model_id": c.model_id,
                                "params": dict(c.params or {}), "epochs": epochs,
                                "ack": self._acker(c.id)})
                return out
        except Exception as e:  # noqa: BLE001
            log.warning("could not read commands: %s", e)
            return []

    def _acker(self, command_id: int) -> Callable[..., None]:
        def ack(ok: bool, message: str = "", model_id: Optional[str] = None) -> None:
            try:
                with self.db.session() as s:
                    c = s.get(Command, command_id)
                    c.status = APPLIED if ok else REJECTED
                    c.message, c.applied_at = message, utcnow()
                    if model_id:
                        c.model_id = model_id
            except Exception as e:  # noqa: BLE001
                log.warning("could not acknowledge command %d: %s", command_id, e)
            (log.info if ok else log.warning)("command %d %s: %s", command_id,
                                              "applied" if ok else "rejected", message)
        return ack

    # -- the end ----------------------------------------------------------------------------
    def done(self, stats: Optional[dict] = None) -> None:
        """The search finished normally."""
        self._finish("DONE", stats=stats)

    def set_stats(self, stats: dict) -> None:
        """Stores the engine figures (utilisation, hop overhead, …) of the experiment."""
        try:
            with self.db.session() as s:
                exp = s.get(Experiment, self.experiment_id)
                exp.stats = jsonable({**(exp.stats or {}), **stats})
        except Exception as e:  # noqa: BLE001
            log.warning("could not record the search's figures: %s", e)

    def close(self, error: str = "") -> None:
        """Ends the experiment (``FAILED`` unless :meth:`done` came first) and the engine."""
        if not self._finished:
            self._finish("FAILED", error=error or "the search stopped with an error")
        self.db.close()

    def _finish(self, status: str, stats: Optional[dict] = None, error: str = "") -> None:
        self._finished = True
        try:
            with self.db.session() as s:
                exp = s.get(Experiment, self.experiment_id)
                exp.status, exp.ended_at, exp.updated_at = status, utcnow(), utcnow()
                exp.error = error
                if stats:
                    exp.stats = jsonable({**(exp.stats or {}), **stats})
                for c in s.scalars(select(Command).where(
                        Command.experiment_id == self.experiment_id, Command.status == PENDING)):
                    c.status, c.message = REJECTED, "the search ended before it could apply this"
                    c.applied_at = utcnow()
                if status != "DONE":
                    for t in s.scalars(select(Trial).where(
                            Trial.experiment_id == self.experiment_id, Trial.status == "RUNNING")):
                        t.status, t.ended_at = "FAILED", utcnow()
                        t.error = t.error or "the search stopped before this trial ended"
        except Exception as e:  # noqa: BLE001
            log.warning("could not record the end of experiment %d: %s", self.experiment_id, e)
