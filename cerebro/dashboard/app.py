"""The dashboard's FastAPI app: a JSON REST API under ``/api`` and two pages that use it.

Security: with a token configured every ``/api`` request needs ``Authorization: Bearer
<token>`` (401 otherwise). Actions (``POST``) always need the token: without one configured
they are refused (403). The pages themselves carry no data; they read ``?token=`` once and
send it as the header.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal, Optional

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field

from cerebro import __version__
from cerebro.records import RecordsDB, charts, queries
from cerebro.records.queries import NotFound

_BEARER = "bearer "
Id = Annotated[int, Path(ge=1, le=2**31 - 1, description="a row id")]


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


def create_app(db: RecordsDB | str, token: Optional[str] = None) -> FastAPI:
    """The dashboard app on a records database.

    Args:
        db: An open :class:`RecordsDB`, or anything it accepts (a store path, a URL).
        token: If set, every API request needs it as a bearer token; actions need it always.
    """
    db = db if isinstance(db, RecordsDB) else RecordsDB(db)
    app = FastAPI(title="Cerebro dashboard", version=__version__, docs_url=None, redoc_url=None,
                  description="Experiments, trials, learning curves and the model-hopper "
                              "schedule of Cerebro searches, and actions on running ones.")
    app.state.db, app.state.token = db, token

    def _presented(request: Request) -> Optional[str]:
        header = request.headers.get("authorization", "")
        return header[len(_BEARER):].strip() if header.lower().startswith(_BEARER) else None

    def _check(presented: Optional[str]) -> None:
        if presented is None or not secrets.compare_digest(presented.encode(), token.encode()):
            raise HTTPException(401, "a valid 'Authorization: Bearer <token>' header is needed",
                                headers={"WWW-Authenticate": "Bearer"})

    def read_access(request: Request) -> None:
        if token:
            _check(_presented(request))

    def action_access(request: Request) -> None:
        if not token:
            raise HTTPException(403, "actions are off: start the dashboard with a token")
        _check(_presented(request))

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

    read = [Depends(read_access)]

    @app.get("/api/experiments", dependencies=read, tags=["experiments"])
    def experiments() -> list[dict[str, Any]]:
        """Every experiment, newest first, with trial counts by status."""
        return queries.list_experiments(db)

    @app.get("/api/experiments/{experiment_id}", dependencies=read, tags=["experiments"])
    def experiment(experiment_id: Id) -> dict[str, Any]:
        """One experiment, its engine figures and its best trial."""
        return guarded(queries.get_experiment, experiment_id)

    @app.get("/api/experiments/{experiment_id}/trials", dependencies=read, tags=["trials"])
    def trials(experiment_id: Id,
               sort: Optional[str] = Query(None, max_length=200, description=(
                   "a metric (val_accuracy), hp.<hyperparameter>, or model_id, status, "
                   "epochs_done…; default: the experiment's metric, best first")),
               order: Optional[Literal["asc", "desc"]] = None) -> list[dict[str, Any]]:
        """The trials with hyperparameters, status and last metrics, sorted."""
        return guarded(queries.list_trials, experiment_id, sort=sort, order=order)

    @app.get("/api/experiments/{experiment_id}/metrics", dependencies=read, tags=["trials"])
    def metrics(experiment_id: Id) -> list[str]:
        """The metric names the trials report."""
        guarded(queries.get_experiment, experiment_id)
        return queries.metric_names(db, experiment_id)

    @app.get("/api/experiments/{experiment_id}/history", dependencies=read, tags=["trials"])
    def history(experiment_id: Id) -> dict[str, dict[str, list[Optional[float]]]]:
        """``{model_id: {metric: [value by epoch]}}`` of every trial."""
        guarded(queries.get_experiment, experiment_id)
        return queries.histories(db, experiment_id)

    @app.get("/api/experiments/{experiment_id}/schedule", dependencies=read, tags=["schedule"])
    def schedule(experiment_id: Id) -> list[dict[str, Any]]:
        """The model-worker schedule: every visit with worker, kind, epoch, start and end."""
        guarded(queries.get_experiment, experiment_id)
        return queries.schedule(db, experiment_id)

    @app.get("/api/trials/{trial_id}", dependencies=read, tags=["trials"])
    def trial(trial_id: Id) -> dict[str, Any]:
        """One trial with its per-epoch history."""
        return guarded(queries.get_trial, trial_id)

    @app.get("/api/experiments/{experiment_id}/commands", dependencies=read, tags=["actions"])
    def commands(experiment_id: Id) -> list[dict[str, Any]]:
        """The actions queued for the experiment and what became of them, newest first."""
        guarded(queries.get_experiment, experiment_id)
        return queries.list_commands(db, experiment_id)

    @app.get("/api/commands/{command_id}", dependencies=read, tags=["actions"])
    def command(command_id: Id) -> dict[str, Any]:
        """One action and its outcome (``PENDING``, ``APPLIED`` or ``REJECTED``)."""
        return guarded(queries.get_command, command_id)

    @app.post("/api/experiments/{experiment_id}/commands", status_code=201,
              dependencies=[Depends(action_access)], tags=["actions"])
    def post_command(experiment_id: Id, body: CommandIn) -> dict[str, Any]:
        """Queues stop/resume/add for the running search (applied at the next sub-epoch)."""
        return guarded(queries.add_command, experiment_id, body.action, model_id=body.model_id,
                       params=body.params, epochs=body.epochs)

    def _image(data: bytes, fmt: str) -> Response:
        return Response(data, media_type=charts.FORMATS[fmt])

    @app.get("/api/experiments/{experiment_id}/charts/curves", dependencies=read, tags=["charts"],
             response_class=Response)
    def curves_chart(experiment_id: Id, metric: Optional[str] = Query(None, max_length=200),
                     model_id: Optional[list[str]] = Query(None),
                     fmt: Literal["svg", "png"] = "svg") -> Response:
        """Learning curves of the trials (all, or the ``model_id`` ones) overlaid."""
        exp = guarded(queries.get_experiment, experiment_id)
        hist = queries.histories(db, experiment_id)
        if model_id:
            hist = {m: h for m, h in hist.items() if m in model_id}
        best = (exp.get("best") or {}).get("model_id")
        order = [t["model_id"] for t in sorted(queries.list_trials(db, experiment_id),
                                               key=lambda t: t["id"])]
        return _image(charts.learning_curves(hist, metric or exp["metric"], fmt, highlight=best,
                                             order=order), fmt)

    @app.get("/api/trials/{trial_id}/charts/curves", dependencies=read, tags=["charts"],
             response_class=Response)
    def trial_chart(trial_id: Id, metric: Optional[str] = Query(None, max_length=200),
                    fmt: Literal["svg", "png"] = "svg") -> Response:
        """Learning curves of one trial: ``metric`` and its train/val twin."""
        t = guarded(queries.get_trial, trial_id)
        exp = guarded(queries.get_experiment, t["experiment_id"])
        name = metric or exp["metric"]
        base = name.split("_", 1)[1] if name.startswith(("val_", "train_")) else name
        hist = {f"{p}_{base}": {base: t["history"].get(f"{p}_{base}")} for p in ("train", "val")}
        return _image(charts.learning_curves(hist, base, fmt, title=f"{t['model_id']}: {base}"),
                      fmt)

    @app.get("/api/experiments/{experiment_id}/charts/gantt", dependencies=read, tags=["charts"],
             response_class=Response)
    def gantt_chart(experiment_id: Id, fmt: Literal["svg", "png"] = "svg") -> Response:
        """The model-hopper schedule as a Gantt chart (workers x time, coloured by trial)."""
        exp = guarded(queries.get_experiment, experiment_id)
        order = [t["model_id"] for t in sorted(queries.list_trials(db, experiment_id),
                                               key=lambda t: t["id"])]
        return _image(charts.gantt(queries.schedule(db, experiment_id), exp["num_workers"], fmt,
                                   order=order), fmt)

    @app.get("/api/health", tags=["meta"])
    def health() -> dict[str, Any]:
        """Liveness (no token needed): the version and whether actions are on."""
        return {"ok": True, "version": __version__, "actions": bool(token)}

    from cerebro.dashboard import pages

    pages.mount(app)
    return app
