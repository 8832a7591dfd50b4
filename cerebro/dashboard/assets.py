"""Static files of the dashboard, all from installed packages (no CDN, works offline).

* ``plotly.min.js`` — the charting library, as shipped inside the ``plotly`` wheel;
* Swagger UI 5 — the ``/docs`` page's files, as shipped inside ``fastapi-offline`` (only its
  static files are used);
* ``app.js``/``app.css`` — the dashboard's own script and style (``cerebro/dashboard/static``).
"""

from __future__ import annotations

import functools
import os

STATIC_DIR = os.path.join(os.path.dirname(__file__), "static")
APP_FILES = ("core.js", "charts.js", "views.js", "app.css")
MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".png": "image/png", ".html": "text/html; charset=utf-8"}


@functools.lru_cache(maxsize=None)
def plotly_js_path() -> str:
    """The path of ``plotly.min.js`` inside the installed ``plotly`` package."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the plotly package is not installed (pip install plotly)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "package_data",
                        "plotly.min.js")
    if not os.path.exists(path):
        raise FileNotFoundError(f"plotly is installed but has no {path}")
    return path


@functools.lru_cache(maxsize=None)
def swagger_dir() -> str:
    """The directory of Swagger UI's files (``swagger-ui-bundle.js``, ``swagger-ui.css``)
    inside the ``fastapi-offline`` package."""
    import importlib.util

    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the fastapi-offline package is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "static")


def app_file(name: str) -> str:
    """The path of one of the dashboard's own static files."""
    if name not in APP_FILES:
        raise FileNotFoundError(name)
    return os.path.join(STATIC_DIR, name)


@functools.lru_cache(maxsize=16)
def read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def media_type(name: str) -> str:
    return MEDIA.get(os.path.splitext(name)[1], "application/octet-stream")
