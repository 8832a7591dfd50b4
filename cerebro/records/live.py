"""What changed in an experiment since a reader last looked, and which visits look stuck.

The :class:`~cerebro.records.recorder.Recorder` bumps ``experiments.rev`` on every write and
stamps the rows it touches with it. :func:`delta` hands a reader everything with a ``rev``
above the one it already has (all of it for ``since=0``), as compact column lists, so that a
dashboard keeps its tables and charts current by applying small JSON deltas.

A visit is *stuck* when it has run longer than ``factor`` times that model's usual visit of
the same kind (its median; the experiment's when the model has none yet), and at least
``min_s`` seconds, or past the liveness deadline the runner gave it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

import datetime as dt
import statistics
from typing import Any, Optional

from sqlalchemy import select

from cerebro.records.db import RecordsDB
from cerebro.records.models import EpochMetric, Experiment, Trial, Visit
from cerebro.records.queries import (NotFound, _experiment_dict, _summaries, _trial_dict, aware,
                                     list_commands)

METRIC_COLUMNS = ("trial_id", "epoch", "name", "value")
VISIT_COLUMNS = ("id", "trial_id", "worker", "kind", "epoch", "start_s", "end_s", "status",
                 "peak_rss_bytes", "lost_reason")
VISITS_PAGE = 4000  # visits in a first delta (the newest); older ones come by pages
STUCK_FACTOR = 5.0
STUCK_MIN_S = 5.0
_TYPICAL_SAMPLE = 50


def now_s(created_at: dt.datetime, now: Optional[dt.datetime] = None) -> float:
    """Seconds since an experiment was created: the clock of its visits' ``start_s``."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return max(0.0, (now - aware(created_at)).total_seconds())


def delta(db: RecordsDB, experiment_id: int, since: int = 0, *,
          stuck_factor: float = STUCK_FACTOR, stuck_min_s: float = STUCK_MIN_S,
          visits_limit: Optional[int] = VISITS_PAGE) -> dict[str, Any]:
    """Everything about an experiment that changed after change counter ``since``.

    Returns:
        ``{"rev", "since", "now_s", "experiment", "trials": [trial dicts],
        "metrics": {"columns", "rows"}, "visits": {"columns", "rows", "older"}, "commands",
        "stuck": [...]}``. ``rev`` is the counter to pass as ``since`` next time; the
        experiment summary, the commands (newest 50) and the stuck visits are always whole.
        A first delta (``since=0``) carries at most ``visits_limit`` visits (the newest;
        ``None``: all); ``older`` is then the id below which :func:`older_visits` has the
        rest (``None`` when none are left).

    Raises:
        NotFound: No such experiment.
    """
    with db.session() as s:
        e = s.get(Experiment, experiment_id)
        if e is None:
            raise NotFound(f"no experiment {experiment_id}")
        rev = e.rev or 0  # read first: rows at or below it are committed (one writer)
        counts, best = _summaries(s, experiment_id)
        exp = _experiment_dict(e, counts.get(experiment_id, {}), best.get(experiment_id))
        clock = now_s(e.created_at)
        trials = [_trial_dict(t) for t in s.scalars(
            select(Trial).where(Trial.experiment_id == experiment_id, Trial.rev > since,
                                Trial.rev <= rev).order_by(Trial.id))]
        metrics = [list(r) for r in s.execute(
            select(EpochMetric.trial_id, EpochMetric.epoch, EpochMetric.name, EpochMetric.value)
            .join(Trial, Trial.id == EpochMetric.trial_id)
            .where(Trial.experiment_id == experiment_id, EpochMetric.rev > since,
                   EpochMetric.rev <= rev).order_by(EpochMetric.id))]
        q = (_visit_query().where(Visit.experiment_id == experiment_id, Visit.rev > since,
                                  Visit.rev <= rev).order_by(Visit.id.desc()))
        limit = visits_limit if since == 0 else None  # a poll gets every change
        visits = [list(r) for r in s.execute(q.limit(limit + 1 if limit else None))]
        older = None
        if limit and len(visits) > limit:
            visits = visits[:visits_limit]
            older = visits[-1][0]
        stuck = (_stuck(s, experiment_id, clock, stuck_factor, stuck_min_s)
                 if e.status == "RUNNING" else [])
    return {"rev": rev, "since": since, "now_s": clock, "experiment": exp, "trials": trials,
            "metrics": {"columns": list(METRIC_COLUMNS), "rows": metrics},
            "visits": {"columns": list(VISIT_COLUMNS), "rows": visits, "older": older},
            "commands": list_commands(db, experiment_id, limit=50), "stuck": stuck}


def _visit_query() -> Any:
    return select(Visit.id, Visit.trial_id, Visit.worker, Visit.kind, Visit.epoch,
                  Visit.start_s, Visit.end_s, Visit.status, Visit.peak_rss_bytes,
                  Visit.lost_reason)


def older_visits(db: RecordsDB, experiment_id: int, before: int,
                 limit: int = VISITS_PAGE) -> dict[str, Any]:
    """A page of visits with ids below ``before``, newest first (``older``: the next page)."""
    with db.session() as s:
        if s.get(Experiment, experiment_id) is None:
            raise NotFound(f"no experiment {experiment_id}")
        rows = [list(r) for r in s.execute(_visit_query().where(
            Visit.experiment_id == experiment_id, Visit.id < before)
            .order_by(Visit.id.desc()).limit(limit + 1))]
    older = rows[limit - 1][0] if len(rows) > limit else None
    return {"columns": list(VISIT_COLUMNS), "rows": rows[:limit], "older": older}


def stuck_visits(db: RecordsDB, experiment_id: int, factor: float = STUCK_FACTOR,
                 min_s: float = STUCK_MIN_S) -> list[dict[str, Any]]:
    """The visits in flight that look stuck (see the module's docstring)."""
    with db.session() as s:
        e = s.get(Experiment, experiment_id)
        if e is None:
            raise NotFound(f"no experiment {experiment_id}")
        return _stuck(s, experiment_id, now_s(e.created_at), factor, min_s)


def _typical(s: Session, where: Any) -> Optional[float]:
    rows = s.execute(select(Visit.start_s, Visit.end_s).where(*where, Visit.status == "done")
                     .order_by(Visit.id.desc()).limit(_TYPICAL_SAMPLE)).all()
    spans = [b - a for a, b in rows if b is not None]
    return statistics.median(spans) if spans else None


def _stuck(s: Session, experiment_id: int, clock: float, factor: float,
           min_s: float) -> list[dict[str, Any]]:
    open_ = s.execute(select(Visit, Trial.model_id).join(Trial, Trial.id == Visit.trial_id).where(
        Visit.experiment_id == experiment_id, Visit.end_s.is_(None))).all()
    out = []
    for v, model_id in open_:
        elapsed = clock - v.start_s
        typical = _typical(s, (Visit.trial_id == v.trial_id, Visit.kind == v.kind))
        if typical is None:
            typical = _typical(s, (Visit.experiment_id == experiment_id, Visit.kind == v.kind))
        over_deadline = v.deadline_s is not None and elapsed > v.deadline_s
        slow = typical is not None and elapsed > max(factor * typical, min_s)
        if over_deadline or slow:
            out.append({"visit_id": v.id, "trial_id": v.trial_id, "model_id": model_id,
                        "worker": v.worker, "kind": v.kind, "epoch": v.epoch,
                        "elapsed_s": elapsed, "typical_s": typical, "deadline_s": v.deadline_s,
                        "times_typical": elapsed / typical if typical else None,
                        "reason": "deadline" if over_deadline else "slow"})
    return out
