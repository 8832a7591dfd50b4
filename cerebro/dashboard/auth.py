"""The dashboard's access token: a bearer header or a cookie scoped to this dashboard.

``?token=`` on a page URL is checked once; a valid one is kept in an ``HttpOnly``,
``SameSite=Strict`` cookie named after the dashboard's port (so two dashboards on one host
keep theirs apart) and the browser is sent on to the same URL without it. API calls carry the
cookie (or an ``Authorization: Bearer`` header). Actions (``POST``) authenticated by the
cookie must also carry the ``X-Cerebro`` header, which a page from another site cannot send
without a CORS preflight that this server never grants.
"""

from __future__ import annotations

import secrets
from typing import Optional

from fastapi import HTTPException, Request

BEARER = "bearer "
CSRF_HEADER = "x-cerebro"


def cookie_name(request: Request) -> str:
    """The token cookie's name for the dashboard serving ``request``."""
    port = request.url.port or (443 if request.url.scheme == "https" else 80)
    return f"cerebro_token_{port}"


def presented(request: Request) -> tuple[Optional[str], bool]:
    """The token a request carries and whether it came in the cookie."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith(BEARER):
        return header[len(BEARER):].strip(), False
    cookie = request.cookies.get(cookie_name(request))
    return (cookie, True) if cookie else (None, False)


def matches(given: Optional[str], token: str) -> bool:
    """Constant-time comparison of a presented token with the configured one."""
    return given is not None and secrets.compare_digest(given.encode(), token.encode())


def refuse() -> HTTPException:
    return HTTPException(401, "a valid token is needed: open the URL with ?token=... that "
                              "`cerebro dashboard` printed, or send 'Authorization: Bearer "
                              "<token>'", headers={"WWW-Authenticate": "Bearer"})


def check_read(request: Request, token: Optional[str]) -> None:
    """Reads need the token when one is configured."""
    if token and not matches(presented(request)[0], token):
        raise refuse()


def check_action(request: Request, token: Optional[str]) -> None:
    """Actions always need the token; from the cookie, also the ``X-Cerebro`` header."""
    if not token:
        raise HTTPException(403, "actions are off: start the dashboard with a token")
    given, from_cookie = presented(request)
    if not matches(given, token):
        raise refuse()
    if from_cookie and CSRF_HEADER not in request.headers:
        raise HTTPException(403, "an action from the cookie needs the X-Cerebro header")
