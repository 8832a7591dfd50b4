"""Reading the records (for the dashboard and the report) and queueing commands.

Every function takes a :class:`~cerebro.records.db.RecordsDB` and returns plain JSON-ready
values (dicts, lists, ISO timestamps), so that the REST API and the HTML report share them.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

import datetime as dt
from typing import Any, Optional

from sqlalchemy import Select, func, select

from cerebro.metrics import is_maximized, ranking_key
from cerebro.records.db import RecordsDB
from cerebro.records.models import (ACTIONS, PENDING, Command, EpochMetric, Experiment, Trial,
                                    Visit)
from cerebro.records.recorder import jsonable

TRIAL_FIELDS = ("id", "model_id", "status", "epochs_done", "epochs_planned", "created_at",
                "started_at", "ended_at", "best_value", "best_epoch", "duration_s", "compute_s",
                "peak_rss_bytes", "fail_reason")
STATUSES = ("RUNNING", "DONE", "STOPPED", "FAILED")


class NotFound(LookupError):
    """No such experiment, trial or command.

    Attributes:
        choices: For an experiment looked up by name or id: the experiments that exist, as
            ``(id, name, status)``, so that a caller can list them.
    """

    def __init__(self, message: str, choices: Optional[list[tuple[int, str, str]]] = None) -> None:
        super().__init__(message)
        self.choices = list(choices or [])


def iso(t: Optional[dt.datetime]) -> Optional[str]:
    """ISO 8601 in UTC (SQLite hands back naive datetimes, which are UTC here)."""
    if t is None:
        return None
    return aware(t).isoformat()


def aware(t: dt.datetime) -> dt.datetime:
    """``t`` as a timezone-aware UTC datetime."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc)


def _seconds(a: Optional[dt.datetime], b: Optional[dt.datetime]) -> Optional[float]:
    if a is None or b is None:
        return None
    return max(0.0, (aware(b) - aware(a)).total_seconds())


def direction_of(e: Experiment) -> str:
    """``min`` or ``max``: the experiment's direction (guessed from its metric when unset)."""
    return e.direction if e.direction in ("min", "max") else metric_direction(e.metric)


def better(a: Optional[float], b: Optional[float], direction: str) -> bool:
    """Whether ``a`` beats ``b`` (``None`` never beats anything)."""
    if a is None:
        return False
    return b is None or (a > b if direction == "max" else a < b)


def _experiment_dict(e: Experiment, counts: dict[str, int],
                     best: Optional[tuple[str, float, int]] = None) -> dict[str, Any]:
    now = dt.datetime.now(dt.timezone.utc)
    end = e.ended_at or (now if e.status == "RUNNING" else e.updated_at)
    return {"id": e.id, "name": e.name, "kind": e.kind, "metric": e.metric,
            "direction": direction_of(e), "status": e.status,
            "num_workers": e.num_workers, "budget": e.budget, "config": e.config or {},
            "stats": e.stats or {}, "error": e.error, "created_at": iso(e.created_at),
            "updated_at": iso(e.updated_at), "ended_at": iso(e.ended_at),
            "duration_s": _seconds(e.created_at, end), "rev": e.rev or 0,
            "trials": sum(counts.values()),
            "trial_status": counts,
            "best_value": best[1] if best else None, "best_model_id": best[0] if best else None,
            "best_trial_id": best[2] if best else None}


def _summaries(s: Session, experiment_id: Optional[int] = None) -> Any:
    """Per experiment: trial counts by status and the best ``(model_id, value, trial id)``."""
    q = select(Trial.experiment_id, Trial.status, func.count()).group_by(
        Trial.experiment_id, Trial.status)
    b = select(Trial.experiment_id, Trial.model_id, Trial.best_value, Trial.id,
               Experiment.direction, Experiment.metric).join(
        Experiment, Experiment.id == Trial.experiment_id).where(Trial.best_value.is_not(None))
    if experiment_id is not None:
        q, b = q.where(Trial.experiment_id == experiment_id), b.where(
            Trial.experiment_id == experiment_id)
    counts: dict[int, dict[str, int]] = {}
    for eid, status, n in s.execute(q):
        counts.setdefault(eid, {})[status] = n
    best: dict[int, tuple[str, Optional[float], int]] = {}
    for eid, mid, value, tid, direction, metric in s.execute(b.order_by(Trial.id)):
        d = direction if direction in ("min", "max") else metric_direction(metric)
        if better(value, best[eid][1] if eid in best else None, d):
            best[eid] = (mid, value, tid)
    return counts, best


def list_experiments(db: RecordsDB) -> list[dict[str, Any]]:
    """Every experiment, newest first, with trial counts by status, best value, duration."""
    with db.session() as s:
        counts, best = _summaries(s)
        rows = s.scalars(select(Experiment).order_by(Experiment.id.desc())).all()
        return [_experiment_dict(e, counts.get(e.id, {}), best.get(e.id)) for e in rows]


def get_experiment(db: RecordsDB, experiment_id: int) -> dict[str, Any]:
    """One experiment, with its best trial (``None`` before any epoch ended)."""
    with db.session() as s:
        e = s.get(Experiment, experiment_id)
        if e is None:
            raise NotFound(f"no experiment {experiment_id}", _choices(s))
        counts, best = _summaries(s, experiment_id)
        out = _experiment_dict(e, counts.get(experiment_id, {}), best.get(experiment_id))
        t = s.get(Trial, out["best_trial_id"]) if out["best_trial_id"] else None
        out["best"] = _trial_dict(t) if t is not None else None
    return out


def _choices(s: Session) -> list[tuple[int, str, str]]:
    return [(i, n, st) for i, n, st in s.execute(
        select(Experiment.id, Experiment.name, Experiment.status).order_by(Experiment.id.desc()))]


def resolve_experiment(db: RecordsDB, ref: Optional[str]) -> int:
    """An experiment id from an id or a name (the newest of that name); ``None``: newest.

    Raises:
        NotFound: No such experiment; its ``choices`` lists those that exist.
    """
    with db.session() as s:
        newest = select(Experiment.id).order_by(Experiment.id.desc())
        q: Optional[Select[int]] = newest
        text = None if ref is None else str(ref).strip()
        if text is not None:
            by_name = s.scalar(newest.where(Experiment.name == text).limit(1))
            if by_name is not None:
                return by_name
            q = newest.where(Experiment.id == int(text)) if text.isdigit() else None
        eid = s.scalar(q.limit(1)) if q is not None else None
        if eid is None:
            choices = _choices(s)
            listed = ", ".join(f"{i} {n!r} ({st})" for i, n, st in choices[:20])
            what = f"no experiment {ref!r}" if ref is not None else "no experiments yet"
            raise NotFound(what + (f"; recorded: {listed}" if choices else ""), choices)
    return eid


def _trial_dict(t: Trial) -> dict[str, Any]:
    now = dt.datetime.now(dt.timezone.utc)
    end = t.ended_at or (now if t.status == "RUNNING" else None)
    d: dict[str, Any] = {
        "id": t.id, "model_id": t.model_id, "status": t.status, "epochs_done": t.epochs_done,
        "epochs_planned": t.epochs_planned, "created_at": iso(t.created_at),
        "started_at": iso(t.started_at), "ended_at": iso(t.ended_at),
        "best_value": t.best_value, "best_epoch": t.best_epoch,
        "duration_s": _seconds(t.started_at, end), "compute_s": t.compute_s or 0.0,
        "peak_rss_bytes": t.peak_rss_bytes, "fail_reason": t.fail_reason,
        "hyperparameters": t.hyperparameters or {}, "metrics": t.last_metrics or {},
        "error": t.error, "stop_reason": t.stop_reason or "", "rev": t.rev or 0}
    return d


def sort_key(field: str) -> Any:
    """A sort key for trial dicts by a field, a metric or ``hp.<hyperparameter>``.

    Values that are missing sort last; mixed types sort by their text.
    """
    def value(t: dict[str, Any]) -> Any:
        if field.startswith("hp."):
            return t["hyperparameters"].get(field[3:])
        if field in t and field not in ("metrics", "hyperparameters"):
            return t[field]
        return t["metrics"].get(field)

    def key(t: dict[str, Any]) -> Any:
        v = value(t)
        if v is None:
            return (1, 0, "")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return (0, 0, float(v))
        return (0, 1, str(v))

    return key


def list_trials(db: RecordsDB, experiment_id: int, sort: Optional[str] = None,
                order: Optional[str] = None, status: Optional[str] = None,
                since: int = 0) -> list[dict[str, Any]]:
    """An experiment's trials with hyperparameters, best, last metrics and timings.

    Args:
        sort: ``best_value`` (the default: best first by the objective's direction), a
            metric (``val_accuracy``: its last value, best first), ``hp.<name>``, or a trial
            field (``model_id``, ``status``, ``epochs_done``, ``duration_s``…).
        order: ``asc`` or ``desc``; default: best first for metrics, else ascending.
        status: Only trials of this status.
        since: Only trials changed after this change counter (``rev``).
    """
    with db.session() as s:
        e = s.get(Experiment, experiment_id)
        if e is None:
            raise NotFound(f"no experiment {experiment_id}", _choices(s))
        direction = direction_of(e)
        q = select(Trial).where(Trial.experiment_id == experiment_id)
        if status:
            q = q.where(Trial.status == status.upper())
        if since:
            q = q.where(Trial.rev > since)
        rows = [_trial_dict(t) for t in s.scalars(q.order_by(Trial.id))]
    field = sort or "best_value"
    if order is None and field == "best_value":
        sign = -1.0 if direction == "max" else 1.0
        return sorted(rows, key=lambda t: (t["best_value"] is None, sign * (t["best_value"] or 0)))
    if order is None and not field.startswith("hp.") and field not in TRIAL_FIELDS:
        key = ranking_key(field)
        return sorted(rows, key=lambda t: key(t["metrics"].get(field)))
    desc = order == "desc" if order else False
    present = [t for t in rows if sort_key(field)(t)[0] == 0]
    missing = [t for t in rows if sort_key(field)(t)[0] == 1]
    return sorted(present, key=sort_key(field), reverse=desc) + missing


def get_trial(db: RecordsDB, trial_id: int) -> dict[str, Any]:
    """One trial: its row, per-epoch history ``{metric: [epoch 1, 2, …]}``, Keras summary,
    store keys, visits, and its experiment's objective."""
    with db.session() as s:
        t = s.get(Trial, trial_id)
        if t is None:
            raise NotFound(f"no trial {trial_id}")
        e = s.get(Experiment, t.experiment_id)
        assert e is not None  # a trial's experiment (foreign key)
        out = _trial_dict(t)
        out.update(experiment_id=t.experiment_id, experiment_name=e.name, metric=e.metric,
                   direction=direction_of(e), summary=t.summary or "", spec_key=t.spec_key,
                   state_key=t.state_key)
    out["history"] = histories(db, out["experiment_id"], trial_id=trial_id).get(out["model_id"], {})
    out["visits"] = schedule(db, out["experiment_id"], trial_id=trial_id)
    return out


def histories(db: RecordsDB, experiment_id: int,
              trial_id: Optional[int] = None) -> dict[str, dict[str, list[Any]]]:
    """``{model_id: {metric: [values by epoch]}}`` of an experiment (or of one trial)."""
    q = (select(Trial.model_id, EpochMetric.name, EpochMetric.epoch, EpochMetric.value)
         .join(Trial, Trial.id == EpochMetric.trial_id)
         .where(Trial.experiment_id == experiment_id)
         .order_by(Trial.id, EpochMetric.name, EpochMetric.epoch))
    if trial_id is not None:
        q = q.where(Trial.id == trial_id)
    out: dict[str, dict[str, list[Any]]] = {}
    with db.session() as s:
        for model_id, name, epoch, value in s.execute(q):
            series = out.setdefault(model_id, {}).setdefault(name, [])
            series.extend([None] * (epoch - 1 - len(series)))
            series.append(value)
    return out


def metric_names(db: RecordsDB, experiment_id: int) -> list[str]:
    """The metric names any trial of the experiment reported (validation ones first)."""
    q = (select(EpochMetric.name).distinct().join(Trial, Trial.id == EpochMetric.trial_id)
         .where(Trial.experiment_id == experiment_id))
    with db.session() as s:
        names = set(s.scalars(q))
    return sorted(names, key=lambda n: (not n.startswith("val_"), n))


VISIT_COLUMNS = ("id", "trial_id", "model_id", "worker", "kind", "epoch", "start_s", "end_s",
                 "status", "peak_rss_bytes", "lost_reason", "deadline_s")


def schedule(db: RecordsDB, experiment_id: int,
             trial_id: Optional[int] = None) -> list[dict[str, Any]]:
    """The model-worker schedule: one dict per visit, in start order (``end_s`` is ``None``
    for a visit in flight)."""
    q = (select(Visit.id, Visit.trial_id, Trial.model_id, Visit.worker, Visit.kind, Visit.epoch,
                Visit.start_s, Visit.end_s, Visit.status, Visit.peak_rss_bytes,
                Visit.lost_reason, Visit.deadline_s)
         .join(Trial, Trial.id == Visit.trial_id)
         .where(Visit.experiment_id == experiment_id).order_by(Visit.start_s, Visit.id))
    if trial_id is not None:
        q = q.where(Visit.trial_id == trial_id)
    with db.session() as s:
        return [dict(zip(VISIT_COLUMNS, row)) for row in s.execute(q)]


def _command_dict(c: Command) -> dict[str, Any]:
    return {"id": c.id, "experiment_id": c.experiment_id, "action": c.action,
            "model_id": c.model_id, "params": c.params or {}, "epochs": c.epochs,
            "status": c.status, "message": c.message, "created_at": iso(c.created_at),
            "applied_at": iso(c.applied_at)}


def list_commands(db: RecordsDB, experiment_id: int,
                  limit: Optional[int] = None) -> list[dict[str, Any]]:
    """An experiment's commands, newest first (the newest ``limit`` of them)."""
    with db.session() as s:
        return [_command_dict(c) for c in s.scalars(
            select(Command).where(Command.experiment_id == experiment_id)
            .order_by(Command.id.desc()).limit(limit))]


def get_command(db: RecordsDB, command_id: int) -> dict[str, Any]:
    """One command."""
    with db.session() as s:
        c = s.get(Command, command_id)
        if c is None:
            raise NotFound(f"no command {command_id}")
        return _command_dict(c)


def add_command(db: RecordsDB, experiment_id: int, action: str, model_id: Optional[str] = None,
                params: Optional[dict[str, Any]] = None, epochs: Optional[int] = None) -> dict[str, Any]:
    """Queues a command for a running search; it is applied at the next sub-epoch boundary.

    Raises:
        NotFound: No such experiment, or (stop/resume) no such trial.
        ValueError: An unknown action, a missing model id or params, a finished experiment.
    """
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {list(ACTIONS)}, got {action!r}")
    if epochs is not None and epochs < 1:
        raise ValueError("epochs must be >= 1")
    with db.session() as s:
        e = s.get(Experiment, experiment_id)
        if e is None:
            raise NotFound(f"no experiment {experiment_id}", _choices(s))
        if e.status != "RUNNING":
            raise ValueError(f"experiment {experiment_id} is {e.status}, not running")
        if action in ("stop", "resume"):
            if not model_id:
                raise ValueError(f"{action} needs a model_id")
            if s.scalar(select(Trial.id).where(Trial.experiment_id == experiment_id,
                                               Trial.model_id == model_id)) is None:
                raise NotFound(f"experiment {experiment_id} has no trial {model_id!r}")
        elif not isinstance(params, dict) or not params:
            raise ValueError("add needs params: the new trial's hyperparameters")
        c = Command(experiment_id=experiment_id, action=action, model_id=model_id,
                    params=jsonable(params or {}), epochs=epochs, status=PENDING, message="")
        s.add(c)
        s.flush()
        return _command_dict(c)


def metric_direction(metric: str) -> str:
    """``max`` for accuracy-like metrics, ``min`` for losses."""
    return "max" if is_maximized(metric) else "min"
