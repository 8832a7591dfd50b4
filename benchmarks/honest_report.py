"""Tables (markdown) and a plot (PNG) of ``benchmarks/honest.py``'s results, and the
generator of the ``docs/benchmarks.md`` section between the honest markers."""

from __future__ import annotations

import math
import os
import re
from typing import Optional

TITLE = "The seed walk-through, unnarrowed (honest run, `benchmarks/honest.py`)"
LABELS = [  # tag prefix -> (part, label)
    ("greedy-cerebro-user-", "greedy", "cerebro, the seed's own SparkSession"),
    ("greedy-cerebro-local-", "greedy", "cerebro, local_session"),
    ("greedy-autokeras-", "greedy", "AutoKeras, sequential"),
    ("random-cerebro", "random", "cerebro"),
    ("random-autokeras", "random", "AutoKeras, sequential"),
    ("random-kt-dist", "random", "KerasTuner distributed"),
    ("graph-cerebro-user", "graph", "cerebro, the seed's own SparkSession"),
    ("graph-autokeras", "graph", "AutoKeras, sequential"),
]


def groups(out: dict) -> dict[str, dict[str, list[dict]]]:
    """part -> label -> the runs' figures."""
    res: dict[str, dict[str, list[dict]]] = {}
    for r in out["runs"]:
        for prefix, part, label in LABELS:
            if r["tag"].startswith(prefix):
                res.setdefault(part, {}).setdefault(label, []).append(r["figures"])
                break
    return res


def median(values: list[Optional[float]]) -> Optional[float]:
    """Median with ``None`` ranked last (``None`` when the median run never got there)."""
    xs = sorted(values, key=lambda v: math.inf if v is None else v)
    if not xs:
        return None
    mid = len(xs) // 2
    if len(xs) % 2:
        return xs[mid]
    a, b = xs[mid - 1], xs[mid]
    return None if a is None or b is None else (a + b) / 2


def cell(values: list[Optional[float]], fmt: str = "{:.0f} s") -> str:
    m = median(values)
    got = [v for v in values if v is not None]
    never = len(values) - len(got)
    text = "never" if m is None else fmt.format(m)
    if len(values) > 1 and got:
        text += f" [{fmt.format(min(got))}–{fmt.format(max(got))}]"
    if never:
        text += f" ({never}× never)"
    return text


def ratio(a: Optional[float], b: Optional[float]) -> str:
    return "–" if a is None or b is None or not b else f"{a / b:.2f}×"


def _table(runs: dict[str, list[dict]], base: str, target: float, others=()) -> list[str]:
    head = ["system", "runs", "wall", f"time to {target}", "best val acc", f"wall / {base}",
            f"time to {target} / {base}"] + [f"wall / {o}" for o in others]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    ref = runs.get(base, [])
    for label, figs in runs.items():
        wall = median([f["wall_s"] for f in figs])
        ttt = median([f["time_to_target_s"] for f in figs])
        row = [label, f"{sum(f['ok'] for f in figs)}/{len(figs)} ok",
               cell([f["wall_s"] for f in figs]), cell([f["time_to_target_s"] for f in figs]),
               cell([f["best_val_accuracy"] for f in figs], "{:.4f}"),
               ratio(wall, median([f["wall_s"] for f in ref])),
               ratio(ttt, median([f["time_to_target_s"] for f in ref]))]
        row += [ratio(wall, median([f["wall_s"] for f in runs.get(o, [])])) for o in others]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def render(out: dict, results_dir: str) -> str:
    s, g = out["settings"], groups(out)
    target = s.get("target", 0.95)
    ak = "AutoKeras, sequential"
    lines = [f"Run {out['created']} on {out['cores']} cores, {s.get('rows', 5000)} MNIST rows "
             f"({s['workers']} workers; the "
             "machine may have been shared: compare ratios within this table). Medians "
             "[min–max] over seeds; \"never\" = the target was not reached (ranked last).", ""]
    if "greedy" in g:
        lines += [f"**Seed walk-through, the seed's search space (only learning_rate = "
                  f"{s['learning_rate']} fixed), greedy {s['trials']} trials × {s['epochs']} "
                  f"epochs, exploration {s['exploration']}, proposals {s['proposals']}, "
                  f"{s['seeds']} seed(s):**", ""] + _table(g["greedy"], ak, target) + [""]
    if "random" in g:
        lines += ["**Same trials (random tuner, seed 1, the seed's space):**", ""]
        lines += _table(g["random"], ak, target, others=("KerasTuner distributed",)) + [""]
    if "graph" in g:
        lines += [f"**The seed's own graph (ConvBlock + ResNetBlock v2 merged), "
                  f"{s['graph_trials']} trials:**", ""] + _table(g["graph"], ak, target)
        errors = [f["error"] for figs in g["graph"].values() for f in figs if f.get("error")]
        lines += [""] + [f"- error: `{e[:200]}`" for e in errors]
    png = plot(out, results_dir)
    if png:
        lines += ["", f"![honest benchmark]({os.path.relpath(png, 'docs')})"]
    return "\n".join(lines).rstrip() + "\n"


def plot(out: dict, results_dir: str) -> Optional[str]:
    """Wall and time to target per run and system (a cross at the top: never)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = groups(out)
    rows = [(part, label, figs) for part in ("greedy", "random", "graph")
            for label, figs in g.get(part, {}).items()]
    if not rows:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.5 * len(rows) + 1.8), sharey=True)
    names = [f"{part}: {label}" for part, label, _ in rows]
    for ax, key, title in ((axes[0], "wall_s", "wall (s)"),
                           (axes[1], "time_to_target_s", f"time to {out['settings']['target']} (s)")):
        top = max([f[key] for _, _, figs in rows for f in figs if f[key] is not None] or [1.0])
        for i, (_, _, figs) in enumerate(rows):
            got = [f[key] for f in figs if f[key] is not None]
            ax.scatter(got, [i] * len(got), color="tab:blue")
            never = len(figs) - len(got)
            if never:
                ax.scatter([top * 1.1] * never, [i] * never, marker="x", color="tab:red")
            m = median([f[key] for f in figs])
            if m is not None:
                ax.plot([m, m], [i - 0.3, i + 0.3], color="black")
        ax.set_xlabel(title)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(rows)), names)
    axes[0].invert_yaxis()
    fig.tight_layout()
    path = os.path.join(results_dir, "honest.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def update_doc(doc: str, md: str, name: str = "honest", title: str = TITLE) -> None:
    """Replaces the section of ``doc`` between ``<!-- name:start -->`` and
    ``<!-- name:end -->`` (appends it under ``title`` if missing), atomically. ``make
    bench`` regenerates the rest of the document first, then these sections."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = open(doc).read() if os.path.exists(doc) else ""
    block = f"{start}\n{md}{end}"
    if start in text and end in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text,
                      flags=re.S)
    else:
        text = text.rstrip() + f"\n\n## {title}\n\n{block}\n"
    with open(doc + ".tmp", "w") as f:
        f.write(text)
    os.replace(doc + ".tmp", doc)
