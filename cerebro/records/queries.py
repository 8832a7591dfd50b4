"""Reading the records (for the dashboard and the report) and queueing commands.

Every function takes a :class:`~cerebro.records.db.RecordsDB` and returns plain JSON-ready
values (dicts, lists, ISO timestamps), so that the REST API and the HTML report share them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sqlalchemy import func, select

from cerebro.metrics import is_maximized, ranking_key
from cerebro.records.db import RecordsDB
from cerebro.records.models import (ACTIONS, PENDING, Command, EpochMetric, Experiment, Trial,
                                    Visit)
from cerebro.records.recorder import jsonable

TRIAL_FIELDS = ("id", "model_id", "status", "epochs_done", "epochs_planned", "created_at",
                "ended_at")


class NotFound(LookupError):
    """No such experiment, trial or command."""


def iso(t: Optional[dt.datetime]) -> Optional[str]:
    """ISO 8601 in UTC (SQLite hands back naive datetimes, which are UTC here)."""
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc).isoformat()


def _experiment_dict(e: Experiment, counts: dict[str, int]) -> dict[str, Any]:
    return {"id": e.id, "name": e.name, "kind": e.kind, "metric": e.metric, "status": e.status,
            "num_workers": e.num_workers, "budget": e.budget, "config": e.config or {},
            "stats": e.stats or {}, "error": e.error, "created_at": iso(e.created_at),
            "updated_at": iso(e.updated_at), "ended_at": iso(e.ended_at),
            "trials": sum(counts.values()), "trial_status": counts}


def _counts(db: RecordsDB, experiment_id: Optional[int] = None) -> dict[int, dict[str, int]]:
    q = select(Trial.experiment_id, Trial.status, func.count()).group_by(
        Trial.experiment_id, Trial.status)
    if experiment_id is not None:
        q = q.where(Trial.experiment_id == experiment_id)
    out: dict[int, dict[str, int]] = {}
    with db.session() as s:
        for eid, status, n in s.execute(q):
            out.setdefault(eid, {})[status] = n
    return out


def list_experiments(db: RecordsDB) -> list[dict[str, Any]]:
    """Every experiment, newest first, with trial counts by status."""
    counts = _counts(db)
    with db.session() as s:
        rows = s.scalars(select(Experiment).order_by(Experiment.id.desc())).all()
        return [_experiment_dict(e, counts.get(e.id, {})) for e in rows]


def get_experiment(db: RecordsDB, experiment_id: int) -> dict[str, Any]:
    """One experiment, with its best trial (``None`` before any epoch ended)."""
    with db.session() as s:
        e = s.get(Experiment, experiment_id)
        if e is None:
            raise NotFound(f"no experiment {experiment_id}")
        out = _experiment_dict(e, _counts(db, experiment_id).get(experiment_id, {}))
    trials = list_trials(db, experiment_id)
    best = trials[0] if trials and out["metric"] in trials[0]["metrics"] else None
    out["best"] = best
    return out


def resolve_experiment(db: RecordsDB, ref: Optional[str]) -> int:
    """An experiment id from an id or a name (the newest of that name); ``None``: newest."""
    with db.session() as s:
        q = select(Experiment.id).order_by(Experiment.id.desc())
        if ref is not None:
            q = q.where(Experiment.id == int(ref)) if str(ref).isdigit() else \
                q.where(Experiment.name == str(ref))
        eid = s.scalar(q.limit(1))
    if eid is None:
        raise NotFound(f"no experiment {ref!r}" if ref is not None else "no experiments yet")
    return eid


def _trial_dict(t: Trial) -> dict[str, Any]:
    d = {f: getattr(t, f) for f in TRIAL_FIELDS}
    d["created_at"], d["ended_at"] = iso(t.created_at), iso(t.ended_at)
    d.update(hyperparameters=t.hyperparameters or {}, metrics=t.last_metrics or {},
             error=t.error)
    return d


def sort_key(field: str):
    """A sort key for trial dicts by a field, a metric or ``hp.<hyperparameter>``.

    Values that are missing sort last; mixed types sort by their text.
    """
    def value(t: dict):
        if field.startswith("hp."):
            return t["hyperparameters"].get(field[3:])
        if field in t and field not in ("metrics", "hyperparameters"):
            return t[field]
        return t["metrics"].get(field)

    def key(t: dict):
        v = value(t)
        if v is None:
            return (1, 0, "")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return (0, 0, float(v))
        return (0, 1, str(v))

    return key


def list_trials(db: RecordsDB, experiment_id: int, sort: Optional[str] = None,
                order: Optional[str] = None) -> list[dict[str, Any]]:
    """An experiment's trials with hyperparameters and last metrics.

    Args:
        sort: A metric (``val_accuracy``), ``hp.<name>``, or a trial field (``model_id``,
            ``status``, ``epochs_done``…); default: the experiment's metric, best first.
        order: ``asc`` or ``desc``; default: best first for metrics, else ascending.
    """
    with db.session() as s:
        e = s.get(Experiment, experiment_id)
        if e is None:
            raise NotFound(f"no experiment {experiment_id}")
        metric = e.metric
        rows = [_trial_dict(t) for t in s.scalars(
            select(Trial).where(Trial.experiment_id == experiment_id).order_by(Trial.id))]
    field = sort or metric
    if order is None and not field.startswith("hp.") and field not in TRIAL_FIELDS:
        key = ranking_key(field)
        return sorted(rows, key=lambda t: key(t["metrics"].get(field)))
    desc = order == "desc" if order else False
    present = [t for t in rows if sort_key(field)(t)[0] == 0]
    missing = [t for t in rows if sort_key(field)(t)[0] == 1]
    return sorted(present, key=sort_key(field), reverse=desc) + missing


def get_trial(db: RecordsDB, trial_id: int) -> dict[str, Any]:
    """One trial with its per-epoch history ``{metric: [value of epoch 1, 2, …]}``."""
    with db.session() as s:
        t = s.get(Trial, trial_id)
        if t is None:
            raise NotFound(f"no trial {trial_id}")
        out = _trial_dict(t)
        out["experiment_id"] = t.experiment_id
    out["history"] = histories(db, out["experiment_id"], trial_id=trial_id).get(out["model_id"], {})
    return out


def histories(db: RecordsDB, experiment_id: int,
              trial_id: Optional[int] = None) -> dict[str, dict[str, list]]:
    """``{model_id: {metric: [values by epoch]}}`` of an experiment (or of one trial)."""
    q = (select(Trial.model_id, EpochMetric.name, EpochMetric.epoch, EpochMetric.value)
         .join(Trial, Trial.id == EpochMetric.trial_id)
         .where(Trial.experiment_id == experiment_id)
         .order_by(Trial.id, EpochMetric.name, EpochMetric.epoch))
    if trial_id is not None:
        q = q.where(Trial.id == trial_id)
    out: dict[str, dict[str, list]] = {}
    with db.session() as s:
        for model_id, name, epoch, value in s.execute(q):
            series = out.setdefault(model_id, {}).setdefault(name, [])
            series.extend([None] * (epoch - 1 - len(series)))
            series.append(value)
    return out


def metric_names(db: RecordsDB, experiment_id: int) -> list[str]:
    """The metric names any trial of the experiment reported."""
    names = {n for h in histories(db, experiment_id).values() for n in h}
    return sorted(names, key=lambda n: (not n.startswith("val_"), n))


def schedule(db: RecordsDB, experiment_id: int) -> list[dict[str, Any]]:
    """The model-worker schedule: one dict per visit, in start order."""
    q = (select(Visit, Trial.model_id).join(Trial, Trial.id == Visit.trial_id)
         .where(Visit.experiment_id == experiment_id).order_by(Visit.start_s))
    with db.session() as s:
        return [{"model_id": mid, "trial_id": v.trial_id, "worker": v.worker, "kind": v.kind,
                 "epoch": v.epoch, "start_s": v.start_s, "end_s": v.end_s}
                for v, mid in s.execute(q)]


def _command_dict(c: Command) -> dict[str, Any]:
    return {"id": c.id, "experiment_id": c.experiment_id, "action": c.action,
            "model_id": c.model_id, "params": c.params or {}, "epochs": c.epochs,
            "status": c.status, "message": c.message, "created_at": iso(c.created_at),
            "applied_at": iso(c.applied_at)}


def list_commands(db: RecordsDB, experiment_id: int) -> list[dict[str, Any]]:
    """An experiment's commands, newest first."""
    with db.session() as s:
        return [_command_dict(c) for c in s.scalars(
            select(Command).where(Command.experiment_id == experiment_id)
            .order_by(Command.id.desc()))]


def get_command(db: RecordsDB, command_id: int) -> dict[str, Any]:
    """One command."""
    with db.session() as s:
        c = s.get(Command, command_id)
        if c is None:
            raise NotFound(f"no command {command_id}")
        return _command_dict(c)


def add_command(db: RecordsDB, experiment_id: int, action: str, model_id: Optional[str] = None,
                params: Optional[dict] = None, epochs: Optional[int] = None) -> dict[str, Any]:
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
            raise NotFound(f"no experiment {experiment_id}")
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
