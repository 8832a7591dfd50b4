"""The dashboard's FastAPI app: a JSON REST API under ``/api``, the pages, ``/docs``.

Security: with a token configured every ``/api`` request needs it, as a bearer header or as
the cookie the pages set after the token came once in the URL (see
:mod:`cerebro.dashboard.auth`); 401 otherwise. Actions (``POST``) always need the token:
without one configured they are refused (403). Pages, static files and the OpenAPI spec
carry no data and need no token.

The pages keep themselves current by polling ``/api/experiments/{id}/delta?since=REV``:
only the trials, epoch metrics and visits that changed since the last poll come back.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field

from cerebro import __version__
from cerebro.dashboard import auth
from cerebro.records import RecordsDB, analysis, live, queries
from cerebro.records.queries import NotFound

Id = Annotated[int, Path(ge=1, le=2**31 - 1, description="a row id")]
_bearer = HTTPBearer(auto_error=False, description="the dashboard's token (or its cookie)")


class CommandIn(BaseModel):
    """A human-in-the-loop action for a running search."""

    action: Literal["stop", "resume", "add"] = Field(
        description="stop a running trial, resume a stopped one, or add a trial")
    model_id: Optional[str] = Field(None, max_length=200,
                                    description="the trial to stop or resume")
    params: Optional[dict[str, Any]] = Field(None, description="hyperparameters of a new trial")
    epochs: Optional[int] = Field(None, ge=1, le=100_000,
                                  description="epochs to resume for (default: what was left)")


def _error(e: Exception) -> HTTPException:
    if isinstance(e, NotFound):
        return HTTPException(404, str(e))
    return HTTPException(409 if "not running" in str(e) else 400, str(e))


def create_app(db: RecordsDB | str, token: Optional[str] = None, *,
               store: Optional[str] = None, stuck_factor: float = live.STUCK_FACTOR,
               stuck_min_s: float = live.STUCK_MIN_S) -> FastAPI:
    """The dashboard app on a records database.

    Args:
        db: An open :class:`RecordsDB`, or anything it accepts (a store path, a URL).
        token: If set, every API request needs it; actions need it always.
        store: Where the searches' models are, for ``.keras`` downloads, when an
            experiment's config does not say (default: beside SQLite records).
        stuck_factor: A visit in flight is flagged when it has run this many times its
            model's usual visit time (and at least ``stuck_min_s`` seconds).
        stuck_min_s: See ``stuck_factor``.
    """
    db = db if isinstance(db, RecordsDB) else RecordsDB(db)
    app = FastAPI(title="Cerebro dashboard", version=__version__, docs_url=None, redoc_url=None,
                  description="Experiments, trials, learning curves, hyperparameter analyses "
                              "and the model-hopper schedule of Cerebro searches, and actions "
                              "on running ones. Authenticate with the dashboard's token as a "
                              "bearer token (or the cookie the pages set).")
    app.state.db, app.state.token, app.state.store = db, token, store

    def read_access(request: Request, _=Depends(_bearer)) -> None:
        auth.check_read(request, token)

    def action_access(request: Request, _=Depends(_bearer)) -> None:
        auth.check_action(request, token)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def guarded(fn, *args, **kwargs):
        try:
            return fn(db, *args, **kwargs)
        except (NotFound, ValueError) as e:
            raise _error(e) from e

    def fast_json(content: Any) -> Response:
        return JSONResponse(content)  # big payloads: skip FastAPI's per-value encoder

    read = [Depends(read_access)]

    @app.get("/api/experiments", dependencies=read, tags=["experiments"])
    def experiments() -> list[dict[str, Any]]:
        """Every experiment, newest first: status counts, best value, duration."""
        return queries.list_experiments(db)

    @app.get("/api/experiments/{experiment_id}", dependencies=read, tags=["experiments"])
    def experiment(experiment_id: Id) -> dict[str, Any]:
        """One experiment, its engine figures and its best trial."""
        return guarded(queries.get_experiment, experiment_id)

    @app.get("/api/experiments/{experiment_id}/delta", dependencies=read, tags=["experiments"],
             response_class=JSONResponse)
    def delta(experiment_id: Id, since: int = Query(0, ge=0, le=2**62, description=(
            "the rev of the last delta applied; 0 for everything"))) -> Response:
        """What changed since ``since``: trials, epoch metrics, visits (column lists), plus
        the experiment, its commands and any stuck visits; pass ``rev`` back next time."""
        return fast_json(guarded(live.delta, experiment_id, since, stuck_factor=stuck_factor,
                                 stuck_min_s=stuck_min_s))

    @app.get("/api/experiments/{experiment_id}/visits", dependencies=read, tags=["schedule"],
             response_class=JSONResponse)
    def visits(experiment_id: Id, before: int = Query(..., ge=1, le=2**62),
               limit: int = Query(live.VISITS_PAGE, ge=1, le=live.VISITS_PAGE)) -> Response:
        """A page of the visits older than id ``before`` (a delta's ``visits.older``)."""
        return fast_json(guarded(live.older_visits, experiment_id, before, limit))

    @app.get("/api/experiments/{experiment_id}/trials", dependencies=read, tags=["trials"])
    def trials(experiment_id: Id,
               sort: Optional[str] = Query(None, max_length=200, description=(
                   "best_value (default, best first), a metric (its last value), "
                   "hp.<hyperparameter>, or model_id, status, duration_s…")),
               order: Optional[Literal["asc", "desc"]] = None,
               status: Optional[Literal["RUNNING", "DONE", "STOPPED", "FAILED"]] = None,
               ) -> list[dict[str, Any]]:
        """The trials with hyperparameters, status, best value and epoch, timings."""
        return guarded(queries.list_trials, experiment_id, sort=sort, order=order,
                       status=status)

    @app.get("/api/experiments/{experiment_id}/metrics", dependencies=read, tags=["trials"])
    def metrics(experiment_id: Id) -> list[str]:
        """The metric names the trials report."""
        guarded(queries.get_experiment, experiment_id)
        return queries.metric_names(db, experiment_id)

    @app.get("/api/experiments/{experiment_id}/history", dependencies=read, tags=["trials"],
             response_class=JSONResponse)
    def history(experiment_id: Id) -> Response:
        """``{model_id: {metric: [value by epoch]}}`` of every trial."""
        guarded(queries.get_experiment, experiment_id)
        return fast_json(queries.histories(db, experiment_id))

    @app.get("/api/experiments/{experiment_id}/schedule", dependencies=read, tags=["schedule"],
             response_class=JSONResponse)
    def schedule(experiment_id: Id) -> Response:
        """The model-worker schedule: every visit with worker, kind, epoch, start and end."""
        guarded(queries.get_experiment, experiment_id)
        return fast_json(queries.schedule(db, experiment_id))

    @app.get("/api/experiments/{experiment_id}/stuck", dependencies=read, tags=["schedule"])
    def stuck(experiment_id: Id) -> list[dict[str, Any]]:
        """Visits in flight that have run far longer than their model's usual visit."""
        return guarded(live.stuck_visits, experiment_id, stuck_factor, stuck_min_s)

    @app.get("/api/experiments/{experiment_id}/importance", dependencies=read,
             tags=["analysis"])
    def importance(experiment_id: Id) -> dict[str, Any]:
        """Hyperparameter importance for the objective (a scikit-learn random forest)."""
        return guarded(analysis.importance, experiment_id)

    @app.get("/api/experiments/{experiment_id}/space", dependencies=read, tags=["analysis"])
    def space(experiment_id: Id) -> dict[str, Any]:
        """The search space, as declared and as the trials used it."""
        return guarded(analysis.space, experiment_id)

    @app.get("/api/trials/{trial_id}", dependencies=read, tags=["trials"])
    def trial(trial_id: Id) -> dict[str, Any]:
        """One trial: history, Keras model summary, visits, store keys."""
        return guarded(queries.get_trial, trial_id)

    @app.get("/api/trials/{trial_id}/model.keras", dependencies=read, tags=["trials"],
             response_class=Response)
    def model_file(trial_id: Id) -> Response:
        """The trial's ``.keras`` file: its spec with the weights of its result state."""
        from cerebro.dashboard.model_file import keras_bytes

        try:
            name, data = guarded(keras_bytes, trial_id, store)
        except HTTPException:
            raise
        except Exception as e:  # noqa: BLE001 - a spec that no longer loads, a broken state
            raise HTTPException(500, f"could not build the .keras file: "
                                     f"{type(e).__name__}: {e}") from e
        return Response(data, media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get("/api/trials/{trial_id}/summary", dependencies=read, tags=["trials"])
    def model_summary(trial_id: Id) -> dict[str, Any]:
        """The trial's Keras model summary (recorded, or built from its spec in the store)."""
        from cerebro.dashboard.model_file import summary_text

        guarded(queries.get_trial, trial_id)  # 404 for no such trial
        try:
            return {"summary": summary_text(db, trial_id, store), "note": ""}
        except NotFound as e:  # a trial without one is no error
            return {"summary": "", "note": str(e)}
        except Exception as e:  # noqa: BLE001 - a spec that no longer loads
            return {"summary": "", "note": f"its spec did not load: {type(e).__name__}: {e}"}

    _command_routes(app, db, read, [Depends(action_access)], guarded)

    @app.get("/api/health", tags=["meta"])
    def health() -> dict[str, Any]:
        """Liveness (no token needed): the version and whether actions are on."""
        return {"ok": True, "version": __version__, "actions": bool(token)}

    from cerebro.dashboard import pages

    pages.mount(app, token)
    return app


def _command_routes(app: FastAPI, db: RecordsDB, read: list, act: list, guarded) -> None:
    @app.get("/api/experiments/{experiment_id}/commands", dependencies=read, tags=["actions"])
    def commands(experiment_id: Id) -> list[dict[str, Any]]:
        """The actions queued for the experiment and what became of them, newest first."""
        guarded(queries.get_experiment, experiment_id)
        return queries.list_commands(db, experiment_id)

    @app.get("/api/commands/{command_id}", dependencies=read, tags=["actions"])
    def command(command_id: Id) -> dict[str, Any]:
        """One action and its outcome (``PENDING``, ``APPLIED`` or ``REJECTED``)."""
        return guarded(queries.get_command, command_id)

    @app.post("/api/experiments/{experiment_id}/commands", status_code=201, dependencies=act,
              tags=["actions"])
    def post_command(experiment_id: Id, body: CommandIn) -> dict[str, Any]:
        """Queues stop/resume/add for the running search (applied at the next sub-epoch)."""
        return guarded(queries.add_command, experiment_id, body.action, model_id=body.model_id,
                       params=body.params, epochs=body.epochs)
