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

from typing import Awaitable, Callable, Optional

from fastapi import FastAPI, Request
from fastapi.responses import Response

from cerebro import __version__
from cerebro.dashboard.routes import ROUTERS
from cerebro.dashboard.routes.deps import DashboardSettings
from cerebro.records import RecordsDB, live

__all__ = ["create_app"]


async def security_headers(request: Request,
                           call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Headers every response carries: no sniffing, no framing, no referrer, no caching."""
    response = await call_next(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def create_app(db: RecordsDB | str, token: Optional[str] = None, *,
               store: Optional[str] = None, stuck_factor: float = live.STUCK_FACTOR,
               stuck_min_s: float = live.STUCK_MIN_S) -> FastAPI:
    """The dashboard app on a records database: the ``/api`` routers
    (:mod:`cerebro.dashboard.routes`), the pages and ``/docs``.

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
    app.state.settings = DashboardSettings(db, token, store, stuck_factor, stuck_min_s)
    app.middleware("http")(security_headers)
    for router in ROUTERS:
        app.include_router(router)

    from cerebro.dashboard import pages

    pages.mount(app, token)
    return app
