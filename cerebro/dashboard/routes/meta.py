"""``/api/health``: liveness, no token needed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cerebro import __version__
from cerebro.dashboard.routes.deps import Settings

router = APIRouter(prefix="/api", tags=["meta"])


@router.get("/health")
def health(s: Settings) -> dict[str, Any]:
    """Liveness (no token needed): the version and whether actions are on."""
    return {"ok": True, "version": __version__, "actions": bool(s.token)}
