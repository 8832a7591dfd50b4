"""The Cerebro dashboard: a FastAPI app on the experiment records.

``cerebro dashboard --store PATH`` serves it; :func:`create_app` builds it for tests or for
mounting elsewhere, :func:`bind` and :func:`serve` run it with uvicorn.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any, Optional

from cerebro._logging import get_logger

log = get_logger("dashboard")

__all__ = ["PortInUse", "bind", "create_app", "is_loopback", "serve"]


class PortInUse(OSError):
    """The dashboard's address is taken (or cannot be bound)."""


def create_app(db: Any, token: Optional[str] = None, **kwargs: Any):
    """The FastAPI app (see :func:`cerebro.dashboard.app.create_app`)."""
    from cerebro.dashboard.app import create_app as _create

    return _create(db, token=token, **kwargs)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``(host, port)``, bound before any URL is shown.

    Raises:
        PortInUse: The port is taken, or the address cannot be bound here.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise PortInUse(f"cannot resolve host {host!r}: {e.strerror or e}") from e
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError as e:
        sock.close()
        if e.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise PortInUse(f"port {port} on {host} is already in use; pick another with "
                            "--port") from e
        raise PortInUse(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    sock.set_inheritable(True)
    return sock


def serve(db: Any, host: str = "127.0.0.1", port: int = 8050, token: Optional[str] = None,
          sock: Optional[socket.socket] = None, **kwargs: Any) -> None:
    """Serves the dashboard until interrupted (on ``sock`` when given, else binds).

    Raises:
        ValueError: When binding beyond the loopback interface without a token.
        PortInUse: When the port is taken.
    """
    import uvicorn

    if not is_loopback(host) and not token:
        raise ValueError(f"binding to {host} exposes the dashboard to the network: give a token")
    sock = sock or bind(host, port)
    import threading

    # The first importance request would otherwise pay for importing scikit-learn.
    threading.Thread(target=_warm_imports, name="cerebro-dashboard-warm", daemon=True).start()
    config = uvicorn.Config(create_app(db, token=token, **kwargs), log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


def _warm_imports() -> None:
    try:
        import sklearn.ensemble  # noqa: F401
    except Exception as e:  # noqa: BLE001 - only a warm-up
        log.debug("could not import scikit-learn ahead: %s", e)
