"""Analyses of an experiment: hyperparameter importance and the search space."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cerebro.dashboard.routes.deps import DB, READ, Id, guarded
from cerebro.records import analysis

router = APIRouter(prefix="/api/experiments/{experiment_id}", dependencies=READ,
                   tags=["analysis"])


@router.get("/importance")
def importance(experiment_id: Id, db: DB) -> dict[str, Any]:
    """Hyperparameter importance for the objective (a scikit-learn random forest)."""
    return guarded(analysis.importance, db, experiment_id)


@router.get("/space")
def space(experiment_id: Id, db: DB) -> dict[str, Any]:
    """The search space, as declared and as the trials used it."""
    return guarded(analysis.space, db, experiment_id)
