"""Small argument checks shared by the public constructors (stdlib + numpy only)."""

from __future__ import annotations

import math
import numbers
from typing import Any


def whole_number(value: Any, name: str, minimum: int = 1) -> int:
    """Returns ``value`` as an ``int`` if it is a whole number ``>= minimum``.

    Upstream Cerebro converted its int settings with pyspark's ``TypeConverters.toInt``, so
    ``64.0`` (what hyperopt's ``quniform`` hands out) meant 64. The same holds here; a value
    with a fractional part, a bool, a string or NaN is refused.

    Args:
        value: An int, a numpy integer, or a float (Python or numpy) without fractional part.
        name: The setting's name, for the message (e.g. ``"batch_size"``).
        minimum: The smallest value allowed.

    Raises:
        TypeError: ``value`` is not a number (or is a bool).
        ValueError: it has a fractional part, is not finite, or is below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a whole number, got {value!r} "
                        f"({type(value).__name__})")
    if isinstance(value, numbers.Integral):
        out = int(value)
    else:
        f = float(value)
        if not math.isfinite(f) or not f.is_integer():
            raise ValueError(
                f"{name} must be a whole number, got {value!r}; a search space gives whole "
                "numbers with hp_choice of ints or hp_quniform with a whole q")
        out = int(f)
    if out < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return out


__all__ = ["whole_number"]
