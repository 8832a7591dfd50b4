"""Human-in-the-loop actions: stop, resume, add (queued, applied by the running search)."""

from __future__ import annotations

from typing import Any, Literal, Optional

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cerebro.dashboard.routes.deps import ACT, DB, READ, Id, guarded
from cerebro.records import queries

router = APIRouter(prefix="/api", tags=["actions"])


class CommandIn(BaseModel):
    """A human-in-the-loop action for a running search."""

    action: Literal["stop", "resume", "add"] = Field(
        description="stop a running trial, resume a stopped one, or add a trial")
    model_id: Optional[str] = Field(None, max_length=200,
                                    description="the trial to stop or resume")
    params: Optional[dict[str, Any]] = Field(None, description="hyperparameters of a new trial")
    epochs: Optional[int] = Field(None, ge=1, le=100_000,
                                  description="epochs to resume for (default: what was left)")


@router.get("/experiments/{experiment_id}/commands", dependencies=READ)
def commands(experiment_id: Id, db: DB) -> list[dict[str, Any]]:
    """The actions queued for the experiment and what became of them, newest first."""
    guarded(queries.get_experiment, db, experiment_id)
    return queries.list_commands(db, experiment_id)


@router.get("/commands/{command_id}", dependencies=READ)
def command(command_id: Id, db: DB) -> dict[str, Any]:
    """One action and its outcome (``PENDING``, ``APPLIED`` or ``REJECTED``)."""
    return guarded(queries.get_command, db, command_id)


@router.post("/experiments/{experiment_id}/commands", status_code=201, dependencies=ACT)
def post_command(experiment_id: Id, body: CommandIn, db: DB) -> dict[str, Any]:
    """Queues stop/resume/add for the running search (applied at the next sub-epoch)."""
    return guarded(queries.add_command, db, experiment_id, body.action,
                   model_id=body.model_id, params=body.params, epochs=body.epochs)
