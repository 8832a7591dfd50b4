"""``/api/experiments``: the experiments and their live deltas."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from cerebro.dashboard.routes.deps import DB, READ, Id, Settings, fast_json, guarded
from cerebro.records import live, queries

router = APIRouter(prefix="/api", dependencies=READ, tags=["experiments"])


@router.get("/experiments")
def experiments(db: DB) -> list[dict[str, Any]]:
    """Every experiment, newest first: status counts, best value, duration."""
    return queries.list_experiments(db)


@router.get("/experiments/{experiment_id}")
def experiment(experiment_id: Id, db: DB) -> dict[str, Any]:
    """One experiment, its engine figures and its best trial."""
    return guarded(queries.get_experiment, db, experiment_id)


@router.get("/experiments/{experiment_id}/delta", response_class=JSONResponse)
def delta(experiment_id: Id, db: DB, s: Settings,
          since: int = Query(0, ge=0, le=2**62, description=(
              "the rev of the last delta applied; 0 for everything"))) -> Response:
    """What changed since ``since``: trials, epoch metrics, visits (column lists), plus
    the experiment, its commands and any stuck visits; pass ``rev`` back next time."""
    return fast_json(guarded(live.delta, db, experiment_id, since,
                             stuck_factor=s.stuck_factor, stuck_min_s=s.stuck_min_s))
