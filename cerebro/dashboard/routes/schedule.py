"""The model-hopper schedule: visits (paged), the schedule, stuck visits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from cerebro.dashboard.routes.deps import DB, READ, Id, Settings, fast_json, guarded
from cerebro.records import live, queries

router = APIRouter(prefix="/api/experiments/{experiment_id}", dependencies=READ,
                   tags=["schedule"])


@router.get("/visits", response_class=JSONResponse)
def visits(experiment_id: Id, db: DB, before: int = Query(..., ge=1, le=2**62),
           limit: int = Query(live.VISITS_PAGE, ge=1, le=live.VISITS_PAGE)) -> Response:
    """A page of the visits older than id ``before`` (a delta's ``visits.older``)."""
    return fast_json(guarded(live.older_visits, db, experiment_id, before, limit))


@router.get("/schedule", response_class=JSONResponse)
def schedule(experiment_id: Id, db: DB) -> Response:
    """The model-worker schedule: every visit with worker, kind, epoch, start and end."""
    guarded(queries.get_experiment, db, experiment_id)
    return fast_json(queries.schedule(db, experiment_id))


@router.get("/stuck")
def stuck(experiment_id: Id, db: DB, s: Settings) -> list[dict[str, Any]]:
    """Visits in flight that have run far longer than their model's usual visit."""
    return guarded(live.stuck_visits, db, experiment_id, s.stuck_factor, s.stuck_min_s)
