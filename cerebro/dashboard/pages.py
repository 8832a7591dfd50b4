"""The dashboard's pages, static files and ``/docs``; the pages hold no data.

Every page is the same small HTML shell: its scripts (``/static/...``: plotly.js from the
``plotly`` package and the dashboard's own ``core.js``, ``charts.js``, ``views.js``) read
everything from ``/api`` and draw it in the browser. The same shell, with the scripts inlined
and the data embedded, is the static report (:mod:`cerebro.report`).

A page URL carrying ``?token=`` sets the token cookie (when the token is right) and
redirects to the URL without it, so the token never stays in the address bar or history.
"""

from __future__ import annotations

import html
import os
from typing import Optional
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from cerebro import __version__
from cerebro.dashboard import assets, auth

# plotly.js compiles some WebGL traces (parallel coordinates) with `new Function`.
CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self' 'unsafe-eval'; connect-src 'self'; worker-src 'self' blob:; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
DOCS_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
VIEWS = ("trials", "charts", "schedule", "space", "compare", "actions")
SCRIPTS = ("plotly.min.js", "core.js", "charts.js", "views.js")


def shell(head: str, body_end: str, title: str = "Cerebro dashboard") -> str:
    """The page shell around ``head`` (styles, scripts) and ``body_end`` (scripts)."""
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<link rel=\"icon\" href=\"data:,\"><title>{html.escape(title)}</title>{head}"
            "</head><body><header id=\"top\"><a class=\"brand\" href=\"/\">Cerebro</a>"
            "<nav id=\"crumbs\"></nav><span id=\"live\"></span></header>"
            "<div id=\"msg\" role=\"alert\"></div><div id=\"stuck\" role=\"status\"></div>"
            f"<main id=\"app\"><p class=\"muted\">loading…</p></main>{body_end}</body></html>")


def _page_html() -> str:
    base = f"/static/{__version__}/"
    head = f'<link rel="stylesheet" href="{base}app.css">'
    scripts = "".join(f'<script src="{base}{name}" defer></script>' for name in SCRIPTS)
    return shell(head, scripts)


def mount(app: FastAPI, token: Optional[str]) -> None:
    """Adds the pages, ``/static/<version>/...`` and ``/docs`` to ``app``."""
    page_html = _page_html()

    def page(request: Request) -> Response:
        given = request.query_params.get("token")
        if given is not None:
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + ("?" + urlencode(rest) if rest else "")
            response: Response = RedirectResponse(target, status_code=303)
            if token and auth.matches(given, token):
                response.set_cookie(auth.cookie_name(request), given, httponly=True,
                                    samesite="strict", path="/",
                                    secure=request.url.scheme == "https")
            return response
        return HTMLResponse(page_html, headers={"Content-Security-Policy": CSP})

    for path in ("/", "/experiments/{experiment_id}", "/experiments/{experiment_id}/{view}",
                 "/trials/{trial_id}"):
        app.add_api_route(path, page, methods=["GET"], include_in_schema=False)

    @app.get("/static/{version}/{name}", include_in_schema=False)
    def static(version: str, name: str) -> Response:
        try:
            path = assets.plotly_js_path() if name == "plotly.min.js" else assets.app_file(name)
        except FileNotFoundError as e:
            raise HTTPException(404, f"no static file {name!r}") from e
        cache = ("public, max-age=31536000, immutable" if version == __version__
                 else "no-cache")
        return FileResponse(path, media_type=assets.media_type(name),
                            headers={"Cache-Control": cache})

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        head = ('<link rel="stylesheet" href="/docs/files/swagger-ui.css">'
                '<script src="/docs/files/swagger-ui-bundle.js" defer></script>'
                '<script src="/docs/init.js" defer></script>')
        text = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<link rel=\"icon\" href=\"data:,\"><title>Cerebro dashboard API</title>"
                + head + "</head><body>"
                "<div id=\"swagger-ui\"></div></body></html>")
        return HTMLResponse(text, headers={"Content-Security-Policy": DOCS_CSP})

    @app.get("/docs/init.js", include_in_schema=False)
    def docs_init() -> Response:
        script = ("window.addEventListener('load', function () { window.ui = SwaggerUIBundle({"
                  "url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, "
                  "withCredentials: true, presets: [SwaggerUIBundle.presets.apis], "
                  "layout: 'BaseLayout', persistAuthorization: true}); });")
        return Response(script, media_type="text/javascript; charset=utf-8")

    @app.get("/docs/files/{name}", include_in_schema=False)
    def docs_file(name: str) -> Response:
        folder = assets.swagger_dir()
        if name not in os.listdir(folder) or "/" in name:
            raise HTTPException(404, f"no file {name!r}")
        return FileResponse(os.path.join(folder, name), media_type=assets.media_type(name),
                            headers={"Cache-Control": "public, max-age=86400"})
