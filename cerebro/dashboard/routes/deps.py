"""What every route shares: the app's settings, the records database, access checks.

``create_app`` keeps a :class:`DashboardSettings` in ``app.state.settings``; the routes get
it, and the database, through FastAPI dependencies, so a router holds no state of its own.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Callable, Optional, TypeVar

from fastapi import Depends, HTTPException, Path, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer

from cerebro.dashboard import auth
from cerebro.records import RecordsDB
from cerebro.records.queries import NotFound

T = TypeVar("T")

Id = Annotated[int, Path(ge=1, le=2**31 - 1, description="a row id")]
_bearer = HTTPBearer(auto_error=False, description="the dashboard's token (or its cookie)")


@dataclasses.dataclass(frozen=True)
class DashboardSettings:
    """What ``create_app`` was given (see its arguments)."""

    db: RecordsDB
    token: Optional[str]
    store: Optional[str]
    stuck_factor: float
    stuck_min_s: float


def settings(request: Request) -> DashboardSettings:
    """The app's settings (a dependency)."""
    found: DashboardSettings = request.app.state.settings
    return found


Settings = Annotated[DashboardSettings, Depends(settings)]


def records_db(request: Request) -> RecordsDB:
    """The app's records database (a dependency)."""
    return settings(request).db


DB = Annotated[RecordsDB, Depends(records_db)]


def read_access(request: Request, _: Any = Depends(_bearer)) -> None:
    """Reads need the token when one is configured."""
    auth.check_read(request, settings(request).token)


def action_access(request: Request, _: Any = Depends(_bearer)) -> None:
    """Actions always need the token."""
    auth.check_action(request, settings(request).token)


READ = [Depends(read_access)]
ACT = [Depends(action_access)]


def http_error(e: Exception) -> HTTPException:
    """404 for what does not exist, 409 for a search not running, else 400."""
    if isinstance(e, NotFound):
        return HTTPException(404, str(e))
    return HTTPException(409 if "not running" in str(e) else 400, str(e))


def guarded(fn: Callable[..., T], db: RecordsDB, *args: Any, **kwargs: Any) -> T:
    """``fn(db, *args, **kwargs)`` with ``NotFound``/``ValueError`` as HTTP errors."""
    try:
        return fn(db, *args, **kwargs)
    except (NotFound, ValueError) as e:
        raise http_error(e) from e


def fast_json(content: Any) -> Response:
    """A JSON response without FastAPI's per-value encoder (big payloads)."""
    return JSONResponse(content)
