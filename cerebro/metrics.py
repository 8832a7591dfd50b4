"""Which way a metric goes: accuracy-like metrics are maximised, losses minimised."""

from __future__ import annotations

import math
from typing import Optional

_MAXIMIZED = ("acc", "auc", "precision", "recall", "f1", "r2", "iou", "top_k", "true_positives",
              "true_negatives")


def is_maximized(metric: str) -> bool:
    """True for accuracy-like metrics (higher is better); False for losses and errors."""
    m = metric.lower()
    if any(s in m for s in ("loss", "error", "crossentropy", "hinge", "divergence")):
        return False
    return any(s in m for s in _MAXIMIZED)


def ranking_key(metric: str):
    """Sort key: the best value sorts first; NaN/missing sort last."""
    sign = -1.0 if is_maximized(metric) else 1.0

    def key(value: Optional[float]) -> float:
        if value is None or not math.isfinite(value):
            return math.inf
        return sign * value

    return key


__all__ = ["is_maximized", "ranking_key"]
