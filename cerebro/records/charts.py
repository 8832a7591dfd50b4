"""Charts of the records, drawn server-side with matplotlib (no browser library, no CDN).

Both the dashboard (SVG) and the HTML report (PNG) use them. Figures are built with the
object-oriented API (no ``pyplot`` state), under a lock, so threads can share the module.
"""

from __future__ import annotations

import io
import threading
from typing import Optional, Sequence

_LOCK = threading.Lock()
FORMATS = {"svg": "image/svg+xml", "png": "image/png"}


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _render(fig, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, got {fmt!r}")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, bbox_inches="tight",
                metadata={"Date": None} if fmt == "svg" else None)
    return buf.getvalue()


def _colour(i: int):
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    return cmap((2 * i) % 20 + (i // 10) % 2)


def colours(model_ids: Sequence[str]) -> dict[str, tuple]:
    """A fixed colour per model (the same in curves and Gantt charts)."""
    return {m: _colour(i) for i, m in enumerate(model_ids)}


def learning_curves(histories: dict[str, dict[str, list]], metric: str, fmt: str = "svg",
                    highlight: Optional[str] = None, order: Optional[Sequence[str]] = None,
                    title: Optional[str] = None) -> bytes:
    """One line per trial of ``metric`` by epoch; ``highlight`` (the best) drawn thicker.

    Args:
        histories: ``{model_id: {metric: [value by epoch]}}``.
        metric: Which metric.
        fmt: ``svg`` or ``png``.
        highlight: A model id to draw solid and thick (others dashed).
        order: Model ids in colour order (default: the keys of ``histories``).
        title: Chart title (default: the metric).
    """
    order = list(order or histories)
    cols = colours(order)
    with _LOCK:
        fig = _figure(7.5, 4.0)
        ax = fig.add_subplot()
        drawn = 0
        for mid in order:
            ys = (histories.get(mid) or {}).get(metric) or []
            pts = [(i + 1, y) for i, y in enumerate(ys) if y is not None]
            if not pts:
                continue
            best = mid == highlight
            style = "-" if best or not highlight else "--"
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style,
                    marker="o", markersize=3, linewidth=2.4 if best else 1.2, color=cols[mid],
                    label=f"{mid} (best)" if best else mid)
            drawn += 1
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title or metric)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=7, loc="best", ncol=1 + drawn // 12)
        else:
            ax.text(0.5, 0.5, "no epochs recorded yet", ha="center", va="center",
                    transform=ax.transAxes)
        return _render(fig, fmt)


def gantt(visits: list[dict], num_workers: Optional[int] = None, fmt: str = "svg",
          order: Optional[Sequence[str]] = None) -> bytes:
    """The model-hopper schedule: one row per worker, one bar per visit, coloured by model.

    Training visits are solid; evaluation visits are lighter and hatched.

    Args:
        visits: Dicts with ``model_id``, ``worker``, ``kind``, ``start_s``, ``end_s``.
        num_workers: Rows to draw (default: the workers that appear).
        fmt: ``svg`` or ``png``.
        order: Model ids in colour order.
    """
    from matplotlib.patches import Patch

    order = list(order or dict.fromkeys(v["model_id"] for v in visits))
    cols = colours(order)
    workers = num_workers or (1 + max((v["worker"] for v in visits), default=0))
    with _LOCK:
        fig = _figure(9.0, 1.2 + 0.55 * workers)
        ax = fig.add_subplot()
        for v in visits:
            train = v["kind"] == "train"
            ax.barh(v["worker"], max(v["end_s"] - v["start_s"], 1e-3), left=v["start_s"],
                    height=0.7, color=cols.get(v["model_id"], "grey"), alpha=1.0 if train else 0.45,
                    hatch=None if train else "//", edgecolor="white", linewidth=0.4)
        ax.set_yticks(range(workers), [f"worker {w}" for w in range(workers)])
        ax.invert_yaxis()
        ax.set_xlabel("seconds since the search started")
        ax.set_title("Model hopper schedule (solid: train, hatched: eval)")
        ax.grid(axis="x", alpha=0.3)
        if order:
            ax.legend(handles=[Patch(color=cols[m], label=m) for m in order], fontsize=7,
                      loc="upper left", bbox_to_anchor=(1.0, 1.0))
        if not visits:
            ax.text(0.5, 0.5, "no visits recorded yet", ha="center", va="center",
                    transform=ax.transAxes)
        return _render(fig, fmt)
