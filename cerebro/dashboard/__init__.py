"""The Cerebro dashboard: a small FastAPI app on the experiment records.

``cerebro dashboard --store PATH`` serves it; :func:`create_app` builds it for tests or for
mounting elsewhere, :func:`serve` runs it with uvicorn.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Optional

from cerebro._logging import get_logger

log = get_logger("dashboard")

__all__ = ["create_app", "is_loopback", "serve"]


def create_app(db: Any, token: Optional[str] = None):
    """The FastAPI app (see :mod:`cerebro.dashboard.app`)."""
    from cerebro.dashboard.app import create_app as _create

    return _create(db, token=token)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(db: Any, host: str = "127.0.0.1", port: int = 8050,
          token: Optional[str] = None) -> None:
    """Serves the dashboard until interrupted.

    Raises:
        ValueError: When binding beyond the loopback interface without a token.
    """
    import uvicorn

    if not is_loopback(host) and not token:
        raise ValueError(f"binding to {host} exposes the dashboard to the network: give a token")
    uvicorn.run(create_app(db, token=token), host=host, port=port, log_level="info")
