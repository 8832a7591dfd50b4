"""The honest benchmark's detail: phase table (launch to end, both systems), per-trial
table (compute, wall, waiting), search-phase utilisation, and the anytime plot (best so far
against wall time, every seed, both systems)."""

from __future__ import annotations

import os
import statistics
from typing import Optional

# (label, cerebro mark, AutoKeras mark): seconds from launch; None = not on that side.
PHASES = [
    ("interpreter up", "python_started", "python_started"),
    ("Spark session ready", "spark_ready", None),
    ("cerebro imported", "cerebro_imported", None),
    ("AutoKeras imported, graph built", "graph_built", "autokeras_imported"),
    ("tuner bound", "tuner_bound", None),
    ("DataFrame / arrays ready", "dataframe_ready", "data_loaded"),
    ("fit called", "fit_called", "fit_called"),
    ("data preparation done", "prepared", None),
    ("records ready", "records_ready", None),
    ("workers ready", "workers_ready", None),
    ("first training step", "first_visit", "first_step"),
    ("search done (fit returned)", "fit_returned", "fit_returned"),
    ("process exit", "done", "done"),
]


def marks_of(run: dict) -> dict[str, float]:
    """A run's marks, with the first visit / first step and the fit's own phases added."""
    m = dict(run.get("marks") or {})
    starts = [v["t_rel"] for v in run.get("visits", []) if v.get("kind") == "visit_started"]
    if starts:
        m["first_visit"] = min(starts)
    if run.get("train_begins"):
        m["first_step"] = min(run["train_begins"])
    fit_at = m.get("fit_called")
    for name, secs in (run.get("phases") or {}).items():  # seconds since fit was called
        if fit_at is not None and isinstance(secs, (int, float)) and name not in m:
            m[name] = fit_at + secs
    return m


def _med(xs: list[float]) -> Optional[float]:
    return statistics.median(xs) if xs else None


def phase_table(cerebro: list[dict], autokeras: list[dict]) -> list[str]:
    """Median seconds from launch to each phase's end, over the seeds, both systems."""
    lines = ["| phase (seconds from launch, median over seeds) | cerebro | AutoKeras |",
             "|---|---|---|"]
    cm = [marks_of(r) for r in cerebro]
    am = [marks_of(r) for r in autokeras]
    for label, ck, ak in PHASES:
        c = _med([m[ck] for m in cm if ck in m]) if ck else None
        a = _med([m[ak] for m in am if ak in m]) if ak else None
        if c is None and a is None:
            continue
        lines.append(f"| {label} | {'–' if c is None else f'{c:.1f}'} | "
                     f"{'–' if a is None else f'{a:.1f}'} |")
    return lines


def trial_rows(run: dict) -> list[dict]:
    """Per trial: busy seconds (its visits, summed), wall from its first visit's start to its
    last visit's end, seconds waiting in between, epochs closed and threads used."""
    per: dict[str, dict] = {}
    open_at: dict[str, float] = {}
    for v in run.get("visits", []):
        t = per.setdefault(v["trial"], {"trial": v["trial"], "busy_s": 0.0, "first": v["t_rel"],
                                         "last": v["t_rel"], "visits": 0, "thread_s": 0.0})
        if v["kind"] == "visit_started":
            open_at[v["trial"]] = v["t_rel"]
            t["first"] = min(t["first"], v["t_rel"])
        else:
            secs = float(v.get("seconds") or 0.0)
            t["busy_s"] += secs
            # core-seconds: the worker's time-weighted figure (a retuned visit's threads vary)
            t["thread_s"] += float(v.get("thread_s") or secs * float(v.get("threads") or 1))
            t["visits"] += 1
            t["last"] = max(t["last"], v["t_rel"])
    rows = []
    for t in per.values():
        wall = t["last"] - t["first"]
        rows.append({"trial": t["trial"], "busy_s": t["busy_s"], "wall_s": wall,
                     "waiting_s": max(0.0, wall - t["busy_s"]), "visits": t["visits"],
                     "threads": t["thread_s"] / t["busy_s"] if t["busy_s"] else 1.0})
    return sorted(rows, key=lambda r: -r["busy_s"])


def trial_table(run: dict, statuses: dict[str, str]) -> list[str]:
    lines = ["| trial | compute (s) | wall, first visit to last (s) | waiting (s) | visits | "
             "mean threads | status |", "|---|---|---|---|---|---|---|"]
    for r in trial_rows(run):
        lines.append(f"| {r['trial']} | {r['busy_s']:.1f} | {r['wall_s']:.1f} | "
                     f"{r['waiting_s']:.1f} | {r['visits']} | {r['threads']:.2f} | "
                     f"{statuses.get(r['trial'], '')} |")
    return lines


def utilisation(run: dict, cores: int) -> Optional[float]:
    """Core-seconds busy training / (cores x search wall): the engine's own figure
    (``result.stats["utilisation"]``) when the run kept it, else from the visit events, the
    search running from the first visit's start to the last visit's end."""
    engine = (run.get("stats") or {}).get("utilisation")
    if isinstance(engine, (int, float)):
        return float(engine)
    rows = trial_rows(run)
    vs = [v["t_rel"] for v in run.get("visits", [])]
    if not rows or len(vs) < 2:
        return None
    span = max(vs) - min(vs)
    busy = sum(r["busy_s"] * r["threads"] for r in rows)
    return busy / (cores * span) if span > 0 else None


def anytime_plot(groups: dict, results_dir: str) -> Optional[str]:
    """Best val accuracy so far against seconds from launch: one panel per budget, a line per
    seed, cerebro blue and AutoKeras orange."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(key, systems) for key, systems in groups.items() if len(systems) > 1]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.2), squeeze=False)
    colors = ("tab:blue", "tab:orange", "tab:green")
    for ax, ((part, bud), systems) in zip(axes[0], panels):
        for color, (label, runs) in zip(colors, systems.items()):
            for i, r in enumerate(runs):
                pts = r["figures"]["curve"]
                if not pts:
                    continue
                xs = [p[0] for p in pts] + [r["figures"]["wall_s"] or pts[-1][0]]
                ys = [p[1] for p in pts] + [pts[-1][1]]
                ax.step(xs, ys, where="post", color=color, alpha=0.7,
                        label=label if i == 0 else None)
        ax.set_title(f"{part}, {bud} (trials x epochs)")
        ax.set_xlabel("seconds from launch")
        ax.set_ylabel("best val accuracy so far")
        ax.set_ylim(0.8, 1.0)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    path = os.path.join(results_dir, "honest.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
