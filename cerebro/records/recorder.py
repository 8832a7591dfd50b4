"""``Recorder``: a search listener that writes a search's records as it runs.

It turns the search's typed events (``cerebro.wire``) into rows, one short transaction per
event: ``ModelAdded`` → a trial (hyperparameters, spec key, Keras summary); ``VisitStarted``
→ a schedule row with a start and no end; ``VisitDone``/``VisitLost`` → that row's end (and
peak memory, or why it was lost); ``EpochEnd`` → metric rows and the trial's best;
``ModelDone``/``ModelFailed``/``ModelResumed`` → the trial's status (and the store key of the
state its result uses; for a trial stopped early, why).

The best of a trial is the engine's (``EpochEnd.best_epoch``/``best_value``, KerasTuner's
definition), stored as given: the recorder computes no best of its own.

One experiment per project: ``on_existing`` says what happens when one of that name is
already recorded (``"resume"`` reopens it, ``"overwrite"`` replaces it, ``"new"`` adds
another). :meth:`Recorder.commands` is the hopper's command source: the dashboard's pending
``commands`` rows for this experiment, each with an ``ack`` that records the outcome.

A database error never stops the search: it is logged and the event is dropped.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

import contextlib
import json
import math
import time
import functools
from collections.abc import Iterator
from typing import Any, Callable, Literal, Optional, TypeVar

from sqlalchemy import delete, select

from cerebro._logging import get_logger
from cerebro.metrics import is_maximized
from cerebro.records.commands import CommandSource
from cerebro.records.db import RecordsDB
from cerebro.records.models import (PENDING, REJECTED, Command, EpochMetric, Experiment, Trial,
                                    Visit, utcnow)
from cerebro.wire import (EpochEnd, Event, Listener, ModelAdded, ModelDone, ModelFailed,
                          ModelResumed, ModelStatus, VisitDone, VisitLost, VisitStarted, WorkersRestarted)

log = get_logger("records")

OnExisting = Literal["resume", "overwrite", "new"]
ON_EXISTING = ("resume", "overwrite", "new")


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values: numpy scalars unwrapped, NaN/inf as ``None``."""
    def default(o: Any) -> Any:
        item = getattr(o, "item", None)
        if callable(item):
            return item()
        if isinstance(o, (set, tuple)):
            return list(o)
        return str(o)

    def clean(o: Any) -> Any:
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, list):
            return [clean(v) for v in o]
        return o

    return clean(json.loads(json.dumps(obj, default=default)))


def _float(v: Any) -> Optional[float]:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


E = TypeVar("E", bound=Event)


def _recorded(handler: Callable[[Any, E], None]) -> Callable[[Any, E], None]:
    """A handler whose database errors are logged, never raised (records never stop a
    search)."""
    @functools.wraps(handler)
    def guarded(self: Any, event: E) -> None:
        try:
            handler(self, event)
        except Exception as e:  # noqa: BLE001 - records must never stop a search
            log.warning("could not record %s of %s: %s", event.name, event.model_id, e)
    return guarded


class Recorder(CommandSource, Listener):
    """Search listener that records a search in a database.

    Args:
        target: A ``Store`` (records in ``<root>/cerebro.db``), a SQLAlchemy URL, a path or
            an open :class:`RecordsDB`.
        experiment_name: The experiment's name: the project's name (shown by the dashboard
            and the report; ``cerebro report --experiment NAME`` finds it by it).
        kind: ``"tune"`` or ``"nas"``.
        metric: The objective that ranks trials (e.g. ``val_accuracy``).
        direction: ``"min"`` or ``"max"``; default: the config's ``objective.direction``,
            else guessed from the metric's name (accuracy-like: max; losses: min).
        num_workers: Workers (partitions) of the search.
        budget: Planned number of trials, if known.
        params: ``model_id -> hyperparameters`` lookup, used when ``ModelAdded`` carries no
            ``params``.
        config: The search's settings (JSON): ``store``, ``objective``, ``space``, ...
        on_existing: When an experiment of this name is already recorded: ``"resume"``
            (default) reopens the newest one (a resumed search: its trials, metrics and
            schedule stay, it is ``RUNNING`` again and its config is updated);
            ``"overwrite"`` deletes every experiment of that name, with its trials, metrics,
            schedule and commands, and starts afresh (``overwrite=True`` searches);
            ``"new"`` records another experiment beside it.
    """

    def __init__(self, target: Any, experiment_name: str, *, kind: str = "tune",
                 metric: str = "val_loss", direction: Optional[str] = None,
                 num_workers: Optional[int] = None, budget: Optional[int] = None,
                 params: Optional[Callable[[str], dict[str, Any]]] = None,
                 config: Optional[dict[str, Any]] = None, on_existing: OnExisting = "resume") -> None:
        if on_existing not in ON_EXISTING:
            raise ValueError(f"on_existing must be one of {list(ON_EXISTING)}, "
                             f"got {on_existing!r}")
        config = jsonable(config or {})
        objective: dict[str, Any] = config["objective"] \
            if isinstance(config.get("objective"), dict) else {}
        direction = direction or objective.get("direction")
        if direction not in ("min", "max"):
            direction = "max" if is_maximized(metric) else "min"
        self.db = target if isinstance(target, RecordsDB) else RecordsDB(target)
        self.params = params or (lambda model_id: {})
        self.metric, self.direction = metric, direction
        self._trials: dict[str, int] = {}
        self._finished = False
        fields = dict(kind=kind, metric=metric, direction=direction, num_workers=num_workers,
                      budget=budget)
        self.experiment_id, created = self._open(experiment_name, on_existing, fields, config)
        age = (utcnow() - _aware(created)).total_seconds()
        self._mono0, self._base_s = time.monotonic(), max(0.0, age)
        log.info("recording experiment %d (%s) in %r", self.experiment_id, experiment_name, self.db)

    def _open(self, name: str, on_existing: str, fields: dict[str, Any], config: dict[str, Any]) -> Any:
        with self.db.session() as s:
            if on_existing == "overwrite":
                ids = s.scalars(select(Experiment.id).where(Experiment.name == name)).all()
                if ids:
                    _delete_experiments(s, ids)
                    log.info("overwrite: replaced experiment(s) %s named %r", ids, name)
            exp = None
            if on_existing == "resume":
                exp = s.scalar(select(Experiment).where(Experiment.name == name)
                               .order_by(Experiment.id.desc()).limit(1))
            if exp is None:
                exp = Experiment(name=name, config=config, stats={}, error="", rev=1, **fields)
                s.add(exp)
            else:
                for key, value in fields.items():
                    if value is not None:
                        setattr(exp, key, value)
                exp.config = {**(exp.config or {}), **config}
                exp.status, exp.ended_at, exp.error = "RUNNING", None, ""
                exp.updated_at, exp.rev = utcnow(), (exp.rev or 0) + 1
                log.info("resuming experiment %d (%s)", exp.id, name)
            s.flush()
            return exp.id, exp.created_at

    # -- plumbing ---------------------------------------------------------------------------
    def _now_s(self) -> float:
        """Seconds since the experiment was created (continues across a resume)."""
        return float(self._base_s + time.monotonic() - self._mono0)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[tuple[Any, Experiment]]:
        """A write transaction that bumps the experiment's change counter (``self.rev``)."""
        with self.db.session() as s:
            exp = s.get(Experiment, self.experiment_id)
            exp.rev = (exp.rev or 0) + 1
            self.rev = exp.rev
            yield s, exp

    def _trial(self, s: Session, model_id: str) -> Trial:
        tid = self._trials.get(model_id)
        row = s.get(Trial, tid) if tid is not None else None
        if row is None:  # (an id cached from a transaction that rolled back finds nothing)
            row = s.scalar(select(Trial).where(Trial.experiment_id == self.experiment_id,
                                               Trial.model_id == model_id))
        if row is None:
            row = Trial(experiment_id=self.experiment_id, model_id=model_id, hyperparameters={},
                        last_metrics={}, error="", epochs_planned=0, epochs_done=0,
                        compute_s=0.0, summary="")
            s.add(row)
            s.flush()
        self._trials[model_id] = row.id
        row.rev, row.updated_at = self.rev, utcnow()
        return row

    def _open_visits(self, s: Session, **where: Any) -> list[Visit]:
        q = select(Visit).where(Visit.experiment_id == self.experiment_id,
                                Visit.end_s.is_(None))
        for key, value in where.items():
            q = q.where(getattr(Visit, key) == value)
        return list(s.scalars(q))

    def _close(self, visits: list[Visit], status: str, reason: Optional[str] = None,
               error: str = "") -> None:
        now = self._now_s()
        for v in visits:
            v.end_s, v.status, v.rev = max(now, v.start_s), status, self.rev
            v.lost_reason, v.error = reason, error[:2000]

    # -- trials -----------------------------------------------------------------------------
    @_recorded
    def on_model_added(self, e: ModelAdded) -> None:
        params = e.params
        if params is None:
            try:
                params = dict(self.params(e.model_id) or {})
            except Exception as err:  # noqa: BLE001
                log.debug("no hyperparameters for %s: %s", e.model_id, err)
                params = {}
        with self._tx() as (s, _):
            t = self._trial(s, e.model_id)
            if params or not t.hyperparameters:
                t.hyperparameters = jsonable(dict(params))
            t.status, t.ended_at, t.error, t.fail_reason = "RUNNING", None, "", None
            t.stop_reason = ""
            t.epochs_planned = int(e.epochs or t.epochs_planned or 0)
            t.spec_key = e.spec_key or t.spec_key
            t.summary = e.summary or t.summary or ""

    @_recorded
    def on_model_done(self, e: ModelDone) -> None:
        with self._tx() as (s, _):
            t = self._trial(s, e.model_id)
            t.status, t.ended_at = str(e.status), utcnow()
            t.stop_reason = e.stop_reason if e.status == ModelStatus.STOPPED else ""
            t.state_key = e.state_key or t.state_key
            self._set_best(t, e.best_epoch, e.best_value)
            self._close(self._open_visits(s, trial_id=t.id), "lost", "ended")

    @_recorded
    def on_model_failed(self, e: ModelFailed) -> None:
        with self._tx() as (s, _):
            t = self._trial(s, e.model_id)
            t.status, t.ended_at = "FAILED", utcnow()
            t.error = e.error or t.error or ""
            t.fail_reason = str(e.reason)
            self._close(self._open_visits(s, trial_id=t.id), "lost", "failed")

    @_recorded
    def on_model_resumed(self, e: ModelResumed) -> None:
        with self._tx() as (s, _):
            t = self._trial(s, e.model_id)
            t.status, t.ended_at, t.stop_reason = "RUNNING", None, ""
            t.epochs_planned = int(e.epochs or t.epochs_planned)

    # -- visits -----------------------------------------------------------------------------
    @_recorded
    def on_visit_started(self, e: VisitStarted) -> None:
        now = self._now_s()
        with self._tx() as (s, _):
            t = self._trial(s, e.model_id)
            t.started_at = t.started_at or utcnow()
            # A worker runs one visit, a model is on one worker: anything still open there
            # was voided (e.g. by a pool restart) without an event of its own.
            stale = {v.id: v for v in self._open_visits(s, worker=e.partition)}
            stale.update({v.id: v for v in self._open_visits(s, trial_id=t.id)})
            self._close(list(stale.values()), "lost", "voided")
            s.add(Visit(experiment_id=self.experiment_id, trial_id=t.id, worker=e.partition,
                        kind=e.kind, epoch=e.epoch + 1, start_s=now, end_s=None,
                        status="running", deadline_s=_float(e.deadline_s), error="",
                        rev=self.rev))

    def _visit(self, s: Session, t: Trial, e: VisitDone | VisitLost, start_s: float) -> Visit:
        """The open visit an end event is about (or a new row when none was started)."""
        epoch = e.epoch + 1
        for v in self._open_visits(s, trial_id=t.id, worker=e.partition):
            if v.kind == e.kind and v.epoch == epoch:
                return v
        v = Visit(experiment_id=self.experiment_id, trial_id=t.id, worker=e.partition,
                  kind=e.kind, epoch=epoch, start_s=start_s, status="running", error="")
        s.add(v)
        return v

    @_recorded
    def on_visit_done(self, e: VisitDone) -> None:
        end = self._now_s()
        seconds = max(0.0, _float(e.seconds) or 0.0)
        with self._tx() as (s, _):
            t = self._trial(s, e.model_id)
            v = self._visit(s, t, e, max(0.0, end - seconds))
            v.end_s, v.status, v.rev = end, "done", self.rev
            if e.peak_rss_bytes > 0:
                v.peak_rss_bytes = int(e.peak_rss_bytes)
                t.peak_rss_bytes = max(int(e.peak_rss_bytes), t.peak_rss_bytes or 0)
            t.compute_s = (t.compute_s or 0.0) + seconds
            t.started_at = t.started_at or utcnow()

    @_recorded
    def on_visit_lost(self, e: VisitLost) -> None:
        end = self._now_s()
        with self._tx() as (s, _):
            t = self._trial(s, e.model_id)
            v = self._visit(s, t, e, end)
            self._close([v], "lost", str(e.reason), e.error)

    @_recorded
    def on_workers_restarted(self, e: WorkersRestarted) -> None:
        with self._tx() as (s, _):
            self._close(self._open_visits(s), "lost", "restart")

    # -- epochs and the best ----------------------------------------------------------------
    @_recorded
    def on_epoch_end(self, e: EpochEnd) -> None:
        metrics = jsonable(dict(e.metrics))
        epoch = e.epoch + 1
        now = utcnow()
        with self._tx() as (s, exp):
            t = self._trial(s, e.model_id)
            # A resumed search may report an epoch again: the newer values win.
            s.execute(delete(EpochMetric).where(EpochMetric.trial_id == t.id,
                                                EpochMetric.epoch == epoch))
            for name, value in metrics.items():
                s.add(EpochMetric(trial_id=t.id, epoch=epoch, name=name, value=_float(value),
                                  recorded_at=now, rev=self.rev))
            s.flush()
            t.epochs_done, t.last_metrics = max(epoch, t.epochs_done or 0), metrics
            exp.updated_at = now
            self._set_best(t, e.best_epoch, e.best_value)

    @staticmethod
    def _set_best(t: Trial, best_epoch: Optional[int], best_value: Optional[float]) -> None:
        """The engine's best (0-based epoch; stored from 1), when it has a value."""
        value = _float(best_value)
        if best_epoch is not None and value is not None:
            t.best_epoch, t.best_value = best_epoch + 1, value

    # -- the end ----------------------------------------------------------------------------
    def done(self, stats: Optional[dict[str, Any]] = None) -> None:
        """The search finished normally."""
        self._finish("DONE", stats=stats)

    def set_stats(self, stats: dict[str, Any]) -> None:
        """Stores the engine figures (utilisation, hop overhead, …) of the experiment."""
        try:
            with self._tx() as (_, exp):
                exp.stats = jsonable({**(exp.stats or {}), **stats})
        except Exception as e:  # noqa: BLE001
            log.warning("could not record the search's figures: %s", e)

    def close(self, error: str = "") -> None:
        """Ends the experiment (``FAILED`` unless :meth:`done` came first) and the engine."""
        if not self._finished:
            self._finish("FAILED", error=error or "the search stopped with an error")
        self.db.close()

    def _finish(self, status: str, stats: Optional[dict[str, Any]] = None, error: str = "") -> None:
        self._finished = True
        try:
            with self._tx() as (s, exp):
                exp.status, exp.ended_at, exp.updated_at = status, utcnow(), utcnow()
                exp.error = error
                if stats:
                    exp.stats = jsonable({**(exp.stats or {}), **stats})
                for c in s.scalars(select(Command).where(
                        Command.experiment_id == self.experiment_id, Command.status == PENDING)):
                    c.status, c.message = REJECTED, "the search ended before it could apply this"
                    c.applied_at = utcnow()
                self._close(self._open_visits(s), "lost", "ended")
                if status != "DONE":
                    for t in s.scalars(select(Trial).where(
                            Trial.experiment_id == self.experiment_id, Trial.status == "RUNNING")):
                        t.status, t.ended_at, t.rev = "FAILED", utcnow(), self.rev
                        t.error = t.error or "the search stopped before this trial ended"
        except Exception as e:  # noqa: BLE001
            log.warning("could not record the end of experiment %d: %s", self.experiment_id, e)


def _aware(t: Any) -> Any:
    import datetime as dt

    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t


def _delete_experiments(s: Session, ids: list[int]) -> None:
    """Deletes experiments and everything under them (explicitly: no reliance on cascades)."""
    trial_ids = select(Trial.id).where(Trial.experiment_id.in_(ids))
    s.execute(delete(EpochMetric).where(EpochMetric.trial_id.in_(trial_ids)))
    s.execute(delete(Visit).where(Visit.experiment_id.in_(ids)))
    s.execute(delete(Command).where(Command.experiment_id.in_(ids)))
    s.execute(delete(Trial).where(Trial.experiment_id.in_(ids)))
    s.execute(delete(Experiment).where(Experiment.id.in_(ids)))
