"""Trials: lists, metrics, histories, one trial, its ``.keras`` file and model summary."""

from __future__ import annotations

from typing import Any, Literal, Optional

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, Response

from cerebro.dashboard.routes.deps import DB, READ, Id, Settings, fast_json, guarded
from cerebro.records import queries
from cerebro.records.queries import NotFound

router = APIRouter(prefix="/api", dependencies=READ, tags=["trials"])


@router.get("/experiments/{experiment_id}/trials")
def trials(experiment_id: Id, db: DB,
           sort: Optional[str] = Query(None, max_length=200, description=(
               "best_value (default, best first), a metric (its last value), "
               "hp.<hyperparameter>, or model_id, status, duration_s…")),
           order: Optional[Literal["asc", "desc"]] = None,
           status: Optional[Literal["RUNNING", "DONE", "STOPPED", "FAILED"]] = None,
           ) -> list[dict[str, Any]]:
    """The trials with hyperparameters, status, best value and epoch, timings."""
    return guarded(queries.list_trials, db, experiment_id, sort=sort, order=order,
                   status=status)


@router.get("/experiments/{experiment_id}/metrics")
def metrics(experiment_id: Id, db: DB) -> list[str]:
    """The metric names the trials report."""
    guarded(queries.get_experiment, db, experiment_id)
    return queries.metric_names(db, experiment_id)


@router.get("/experiments/{experiment_id}/history", response_class=JSONResponse)
def history(experiment_id: Id, db: DB) -> Response:
    """``{model_id: {metric: [value by epoch]}}`` of every trial."""
    guarded(queries.get_experiment, db, experiment_id)
    return fast_json(queries.histories(db, experiment_id))


@router.get("/trials/{trial_id}")
def trial(trial_id: Id, db: DB) -> dict[str, Any]:
    """One trial: history, Keras model summary, visits, store keys."""
    return guarded(queries.get_trial, db, trial_id)


@router.get("/trials/{trial_id}/model.keras", response_class=Response)
def model_file(trial_id: Id, db: DB, s: Settings) -> Response:
    """The trial's ``.keras`` file: its spec with the weights of its result state."""
    from cerebro.dashboard.model_file import keras_bytes

    try:
        name, data = guarded(keras_bytes, db, trial_id, s.store)
    except HTTPException:
        raise
    except Exception as e:  # noqa: BLE001 - a spec that no longer loads, a broken state
        raise HTTPException(500, f"could not build the .keras file: "
                                 f"{type(e).__name__}: {e}") from e
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/trials/{trial_id}/summary")
def model_summary(trial_id: Id, db: DB, s: Settings) -> dict[str, Any]:
    """The trial's Keras model summary (recorded, or built from its spec in the store)."""
    from cerebro.dashboard.model_file import summary_text

    guarded(queries.get_trial, db, trial_id)  # 404 for no such trial
    try:
        return {"summary": summary_text(db, trial_id, s.store), "note": ""}
    except NotFound as e:  # a trial without one is no error
        return {"summary": "", "note": str(e)}
    except Exception as e:  # noqa: BLE001 - a spec that no longer loads
        return {"summary": "", "note": f"its spec did not load: {type(e).__name__}: {e}"}
