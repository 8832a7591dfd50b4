"""``cerebro report``: one self-contained HTML file of a store's experiment records.

Every chart is a PNG embedded as ``data:image/png;base64,…``; there are no links to fetch,
so the file can be mailed or archived as is. Per experiment it shows the summary and engine
figures, the best trial, every trial (hyperparameters, status, last metrics), learning
curves, the model-hopper schedule and the actions taken by hand.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import os
from typing import Any, Optional, Sequence

from cerebro import __version__
from cerebro._logging import get_logger
from cerebro.records import RecordsDB, charts, queries

log = get_logger("report")

_STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
h1{font-size:1.5rem}h2{font-size:1.2rem;border-top:1px solid #ccc;padding-top:1rem;margin-top:2rem}
h3{font-size:1rem}table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
td,th{border-bottom:1px solid #ddd;padding:.25rem .5rem;text-align:left}img{max-width:100%}
.RUNNING{color:#1f5fbf}.DONE{color:#1a7f37}.STOPPED{color:#9a6700}.FAILED{color:#cf222e}"""


def _e(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, (dict, list)):
        import json

        return html.escape(json.dumps(value, sort_keys=True))
    return html.escape(str(value))


def _img(png: bytes, alt: str) -> str:
    return (f'<img alt="{html.escape(alt)}" '
            f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">')


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]],
           classes: Sequence[str] = ()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{_e(classes[i])}"' if i < len(classes) and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figures(stats: dict) -> list[tuple[str, Any]]:
    out = []
    for key, label, scale, unit in (("wall_s", "wall time", 1, " s"),
                                    ("start_s", "worker start", 1, " s"),
                                    ("utilisation", "worker utilisation", 100, " %"),
                                    ("hop_overhead", "hop overhead (of sub-epoch time)", 100, " %"),
                                    ("visits", "visits", 1, ""),
                                    ("restarts", "pool restarts", 1, "")):
        if isinstance(stats.get(key), (int, float)):
            out.append((label, f"{stats[key] * scale:.2f}{unit}" if isinstance(stats[key], float)
                        else f"{stats[key]}{unit}"))
    return out


def experiment_section(db: RecordsDB, experiment_id: int) -> str:
    """The HTML section of one experiment."""
    exp = queries.get_experiment(db, experiment_id)
    trials = queries.list_trials(db, experiment_id)
    hist = queries.histories(db, experiment_id)
    metric = exp["metric"]
    order = [t["model_id"] for t in sorted(trials, key=lambda t: t["id"])]
    best = exp["best"]
    parts = [f"<h2>Experiment {exp['id']}: {_e(exp['name'])}</h2>"]
    summary = [("kind", exp["kind"]), ("status", exp["status"]), ("ranked by", metric),
               ("trials", f"{exp['trials']} {exp['trial_status']}"),
               ("started", exp["created_at"]), ("ended", exp["ended_at"] or "")]
    if exp["error"]:
        summary.append(("error", exp["error"]))
    parts.append(_table(("", ""), summary + _figures(exp["stats"])))
    if best:
        parts.append("<h3>Best model</h3>" + _table(
            ("trial", metric, "epochs", "status", "hyperparameters"),
            [(best["model_id"], best["metrics"].get(metric), best["epochs_done"], best["status"],
              best["hyperparameters"])]))
    hps = list(dict.fromkeys(k for t in trials for k in t["hyperparameters"]))
    names = queries.metric_names(db, experiment_id)
    parts.append("<h3>Trials (best first)</h3>" + _table(
        ["trial", "status", "epochs", *hps, *names, "error"],
        [[t["model_id"], t["status"], f"{t['epochs_done']}/{t['epochs_planned']}",
          *[t["hyperparameters"].get(h) for h in hps], *[t["metrics"].get(m) for m in names],
          (t["error"] or "")[:300]] for t in trials],
        [t["status"] for t in trials]))
    best_id = best["model_id"] if best else None
    shown = [m for m in dict.fromkeys([metric, "val_loss"]) if m in names] or names[:1]
    if shown:
        parts.append("<h3>Learning curves</h3>" + "".join(
            _img(charts.learning_curves(hist, m, "png", highlight=best_id, order=order),
                 f"learning curves: {m}") for m in shown))
    visits = queries.schedule(db, experiment_id)
    if visits:
        parts.append("<h3>Model hopper schedule</h3>" + _img(
            charts.gantt(visits, exp["num_workers"], "png", order=order), "schedule"))
    cmds = queries.list_commands(db, experiment_id)
    if cmds:
        parts.append("<h3>Actions taken by hand</h3>" + _table(
            ("id", "action", "trial", "params", "status", "message", "at"),
            [(c["id"], c["action"], c["model_id"], c["params"], c["status"], c["message"],
              c["created_at"]) for c in reversed(cmds)]))
    return "\n".join(parts)


def render(db: RecordsDB, experiments: Optional[Sequence[int]] = None) -> str:
    """The whole report as an HTML string (every experiment, newest first, by default)."""
    ids = list(experiments) if experiments else [e["id"] for e in queries.list_experiments(db)]
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [f"<h1>Cerebro report</h1><p>{len(ids)} experiment(s) from "
            f"<code>{_e(db.engine.url.render_as_string(hide_password=True))}</code>, "
            f"generated {when} by cerebro {__version__}.</p>"]
    if not ids:
        body.append("<p>No experiments recorded yet.</p>")
    body += [experiment_section(db, eid) for eid in ids]
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Cerebro report</title><style>{_STYLE}</style></head><body>"
            + "\n".join(body) + "</body></html>")


def write_report(target: Any, out: str = "report.html",
                 experiment: Optional[str] = None) -> str:
    """Writes the report of the records at ``target`` (store path, URL…) to ``out``.

    Args:
        target: Anything :class:`~cerebro.records.RecordsDB` accepts.
        out: The HTML file to write.
        experiment: One experiment (id or name); default: all of them.

    Returns:
        The path written.
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
    log.info("report written to %s", out)
    return out
