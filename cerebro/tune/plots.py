"""Learning-curve figures of a search's result (``ModelSelectionResult.plot_history``).

One panel per metric, in a grid that stays readable at any number of metrics (up to three
columns, as many rows as needed); every panel has its own legend and integer epochs. The best
model is drawn solid and thick, with a star at its best epoch (KerasTuner's: the objective's
best epoch by its direction); the others are thinner and dashed.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

from cerebro.metrics import is_maximized

MAX_COLUMNS = 3
LEGEND_ROWS = 12  # past this many models, a panel's legend gets more columns


def default_metrics(histories: dict[str, dict[str, list]], evaluation_metric: str) -> list[str]:
    """``val_``/``train_`` of the evaluation metric and of the loss, those that exist."""
    names = [f"val_{evaluation_metric}", f"train_{evaluation_metric}", "val_loss", "train_loss"]
    present = [n for n in dict.fromkeys(names) if any(n in h for h in histories.values())]
    if present:
        return present
    return sorted({n for h in histories.values() for n in h})


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, columns) for ``n`` panels: one row up to three, then three columns."""
    n = max(1, n)
    cols = min(n, MAX_COLUMNS) if n != 4 else 2
    return math.ceil(n / cols), cols


def best_epoch(values: Sequence[Optional[float]], metric: str) -> Optional[int]:
    """The 1-based epoch of the best value by the metric's direction (first on a tie)."""
    best, at = None, None
    for i, v in enumerate(values):
        if v is None or not math.isfinite(v):
            continue
        if best is None or (v > best if is_maximized(metric) else v < best):
            best, at = v, i + 1
    return at


def draw(fig, histories: dict[str, dict[str, list]], metrics: list[str],
         best_id: Optional[str] = None) -> None:
    """Draws one panel per metric of ``histories`` (``{model_id: {metric: [values]}}``)."""
    from matplotlib.ticker import MaxNLocator

    rows, cols = grid_shape(len(metrics))
    cmap = __import__("matplotlib").colormaps["tab20"]
    colours = {m: cmap(i % 20) for i, m in enumerate(histories)}
    for k, name in enumerate(metrics or ["(no metrics)"]):
        ax = fig.add_subplot(rows, cols, k + 1)
        drawn = 0
        for mid, hist in histories.items():
            ys = hist.get(name) or []
            pts = [(i + 1, y) for i, y in enumerate(ys) if y is not None]
            if not pts:
                continue
            best = mid == best_id
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "-" if best else "--",
                    marker="o", markersize=4 if best else 3, linewidth=2.6 if best else 1.2,
                    color=colours[mid], label=f"{mid} (best)" if best else mid,
                    zorder=3 if best else 2)
            at = best_epoch(ys, name) if best else None
            if at is not None:
                ax.plot([at], [ys[at - 1]], marker="*", markersize=13, color=colours[mid],
                        markeredgecolor="black", zorder=4, linestyle="none")
            drawn += 1
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=7, loc="best", ncol=1 + (drawn - 1) // LEGEND_ROWS,
                      framealpha=0.8)
        else:
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)


def plot_history(result, path: Optional[str] = None, metrics: Optional[list[str]] = None):
    """Learning curves of every model of ``result``, one panel per metric.

    Args:
        result: A ``ModelSelectionResult`` (``models`` with ``history``, ``best_model``,
            ``evaluation_metric``).
        path: Save as PNG there (and return the path); else return the figure.
        metrics: Which history keys; default ``val_<evaluation_metric>`` and ``val_loss``
            plus their ``train_`` twins.

    Returns:
        ``path``, or a matplotlib ``Figure`` when no path is given.
    """
    histories = {mid: dict(getattr(m, "history", {}) or {})
                 for mid, m in result.models.items()}
    metrics = list(metrics) if metrics else default_metrics(histories, result.evaluation_metric)
    rows, cols = grid_shape(len(metrics))
    size = (5.2 * cols, 3.9 * rows)
    best_id = getattr(result.best_model, "model_id", None)
    if path is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=size)
    else:
        from matplotlib.figure import Figure

        fig = Figure(figsize=size)  # no pyplot state: safe in threads and scripts
    draw(fig, histories, metrics, best_id)
    fig.tight_layout()
    if path is None:
        return fig
    fig.savefig(path, dpi=110)
    return path
