"""A built model's cost per sample, estimated before it trains: the scheduler's first guess.

Each layer's weights count once per position of its output (a convolution's kernel runs at
every output pixel, a dense layer's weights once), so the sum is about the multiply-adds of
one sample's forward pass. It only ranks models against each other (longest remaining
first, ``cerebro.mop.priority``) until their first sub-epoch is measured.
"""

from __future__ import annotations

import math
from typing import Any


def cost_hint(model: Any) -> float:
    """Estimated multiply-adds per sample of a built Keras model (>= its parameter count)."""
    total = 0.0
    for layer in _leaves(model):
        try:
            weights = float(layer.count_params())
        except ValueError:  # not built
            continue
        if not weights:
            continue
        total += weights * _positions(layer)
    return max(total, float(model.count_params()), 1.0)


def _leaves(layer: Any) -> list[Any]:
    inner = getattr(layer, "layers", None)
    if not inner:
        return [layer]
    return [leaf for sub in inner for leaf in _leaves(sub)]


def _positions(layer: Any) -> float:
    """Positions of the layer's output: the product of its dims between batch and channels."""
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return 1.0
    dims = [int(d) for d in tuple(shape)[1:-1] if d is not None]
    return float(math.prod(dims)) if dims else 1.0
