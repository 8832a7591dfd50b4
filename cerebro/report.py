"""``cerebro report``: the dashboard's views as one static, self-contained HTML file.

The file is the dashboard's page with its scripts (plotly.js from the ``plotly`` package and
the dashboard's own) and style inlined, and the API answers its views read embedded as JSON:
the experiments list, each experiment's trials, epoch metrics and schedule, hyperparameter
importance, search space, and each trial's history and Keras summary. It links to nothing
and fetches nothing (a Content-Security-Policy in the file forbids it), so it can be mailed
or archived as is. Actions and ``.keras`` downloads need the live dashboard.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
from typing import Any, Optional, Sequence

from cerebro import __version__
from cerebro._logging import get_logger
from cerebro.dashboard import assets
from cerebro.dashboard.pages import SCRIPTS, shell
from cerebro.records import RecordsDB, analysis, live, queries

log = get_logger("report")

FILE_CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
            "style-src 'unsafe-inline'; img-src data: blob:")


def embed_json(obj: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">`` (no ``<``, ``>``, ``&``)."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def bundle(db: RecordsDB, experiments: Optional[Sequence[int]] = None) -> dict[str, Any]:
    """The API answers the views need, keyed by API path (what the report embeds)."""
    listed = queries.list_experiments(db)
    ids = list(experiments) if experiments else [e["id"] for e in listed]
    api: dict[str, Any] = {"/experiments": [e for e in listed if e["id"] in ids]}
    for eid in ids:
        api[f"/experiments/{eid}/delta"] = live.delta(db, eid, 0)
        api[f"/experiments/{eid}/importance"] = analysis.importance(db, eid)
        api[f"/experiments/{eid}/space"] = analysis.space(db, eid)
        for t in api[f"/experiments/{eid}/delta"]["trials"]:
            detail = queries.get_trial(db, t["id"])
            detail.pop("visits", None)  # the views take them from the experiment's delta
            api[f"/trials/{t['id']}"] = detail
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return {"api": api, "start": f"/experiments/{ids[0]}" if len(ids) == 1 else "/",
            "generated": when, "version": __version__,
            "source": db.engine.url.render_as_string(hide_password=True)}


def _inline_script(path: str) -> str:
    return "<script>" + assets.read_text(path).replace("</script", "<\\/script") + "</script>"


def render(db: RecordsDB, experiments: Optional[Sequence[int]] = None) -> str:
    """The whole report as an HTML string (every experiment by default)."""
    data = bundle(db, experiments)
    head = (f'<meta http-equiv="Content-Security-Policy" content="{FILE_CSP}">'
            f"<style>{assets.read_text(assets.app_file('app.css'))}</style>")
    note = (f'<footer class="muted" style="padding:0 1.2rem 1rem">Cerebro report of '
            f"{html.escape(data['source'])}, generated {data['generated']} by cerebro "
            f"{__version__}: a static copy of the dashboard's views.</footer>")
    scripts = [f'<script type="application/json" id="cerebro-data">{embed_json(data)}</script>']
    for name in SCRIPTS:
        path = assets.plotly_js_path() if name == "plotly.min.js" else assets.app_file(name)
        scripts.append(_inline_script(path))
    return shell(head, note + "".join(scripts), title="Cerebro report")


def write_report(target: Any, out: str = "report.html",
                 experiment: Optional[str] = None) -> str:
    """Writes the report of the records at ``target`` (store path, URL…) to ``out``.

    Args:
        target: Anything :class:`~cerebro.records.RecordsDB` accepts.
        out: The HTML file to write (atomically: a temporary file, then renamed).
        experiment: One experiment (its name or id); default: all of them.

    Returns:
        The path written.

    Raises:
        cerebro.records.queries.NotFound: No such experiment (its ``choices`` lists those
            that exist).
    """
    db = RecordsDB(target)
    try:
        ids = [queries.resolve_experiment(db, experiment)] if experiment is not None else None
        text = render(db, ids)
    finally:
        db.close()
    os.makedirs(os.path.dirname(os.path.abspath(out)) or ".", exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out)
    log.debug("report written to %s", out)
    return out
