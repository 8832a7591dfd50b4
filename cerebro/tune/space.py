"""Hyperparameter search-space helpers (Cerebro's ``hp_*`` names).

Log-scale bounds are **base-10 exponents**: ``hp_loguniform(-4, -1)`` samples learning rates
between 1e-4 and 1e-1. hyperopt's ``loguniform`` takes natural-log bounds, so the conversion
to hyperopt multiplies by ln(10) (upstream Cerebro passed the base-10 exponents unchanged).

Quantized parameters with a whole ``q`` (``hp_quniform(16, 256, 16)``) give ``int`` values,
from every searcher (hyperopt itself hands out ``64.0``), so they can be a batch size or a
number of units as they are.
"""

from __future__ import annotations

import math
import os
from typing import Any, Optional, Sequence

import numpy as np

_LN10 = math.log(10.0)


def default_seed() -> int:
    """Seed of ``sample_value()``: ``$CEREBRO_RANDOM_SEED``, else 2020 (upstream's constant)."""
    raw = os.environ.get("CEREBRO_RANDOM_SEED", "2020")
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"CEREBRO_RANDOM_SEED must be an integer, got {raw!r}") from None


class HyperParameter:
    """One dimension of a search space."""

    _own_rng: Optional[np.random.Generator] = None

    def sample(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def sample_value(self) -> Any:
        """One random value (upstream Cerebro's method).

        Each object draws from its own generator, seeded with :func:`default_seed`, so a
        fresh ``hp_uniform(0, 1)`` gives the same sequence in every run.
        """
        if self._own_rng is None:
            self._own_rng = np.random.default_rng(default_seed())
        return self.sample(self._own_rng)

    def from_hyperopt(self, value: Any) -> Any:
        """Converts a value hyperopt produced for this parameter to the value a user gets."""
        return value

    def grid(self) -> list[Any]:
        raise TypeError(
            f"{self!r} has no finite grid; GridSearch needs hp_choice for every parameter")

    def to_hyperopt(self, label: str):
        raise NotImplementedError


class _Choice(HyperParameter):
    def __init__(self, options: Sequence[Any]):
        if isinstance(options, (str, bytes)) or not hasattr(options, "__iter__"):
            raise TypeError(f"hp_choice needs a list of options, got {options!r}")
        options = list(options)
        if not options:
            raise ValueError("hp_choice needs at least one option")
        self.options = options

    def sample(self, rng):
        return self.options[int(rng.integers(len(self.options)))]

    def grid(self):
        return list(self.options)

    def to_hyperopt(self, label):
        from hyperopt import hp

        return hp.choice(label, self.options)

    def __repr__(self):
        return f"hp_choice({self.options!r})"


class _Uniform(HyperParameter):
    def __init__(self, low: float, high: float, q: float | None = None, log: bool = False):
        if not high > low:
            raise ValueError(f"need min < max, got min={low}, max={high}")
        if q is not None and q <= 0:
            raise ValueError(f"q must be > 0, got {q}")
        self.low, self.high, self.q, self.log = float(low), float(high), q, log

    def _quantize(self, v: float) -> float:
        if self.q is None:
            return v
        return self.from_hyperopt(round(v / self.q) * self.q)

    def from_hyperopt(self, value):
        if self.q is not None and float(self.q).is_integer():
            return int(round(float(value)))
        return float(value)

    def sample(self, rng):
        u = rng.uniform(self.low, self.high)
        return self._quantize(10.0 ** u if self.log else u)

    def to_hyperopt(self, label):
        from hyperopt import hp

        if self.log:
            lo, hi = self.low * _LN10, self.high * _LN10
            return hp.qloguniform(label, lo, hi, self.q) if self.q else hp.loguniform(label, lo, hi)
        if self.q:
            return hp.quniform(label, self.low, self.high, self.q)
        return hp.uniform(label, self.low, self.high)

    def __repr__(self):
        name = ("hp_q" if self.q else "hp_") + ("loguniform" if self.log else "uniform")
        extra = f", {self.q}" if self.q else ""
        return f"{name}({self.low}, {self.high}{extra})"


def hp_choice(options: Sequence[Any]) -> HyperParameter:
    """One of ``options``."""
    return _Choice(options)


def hp_uniform(min: float, max: float) -> HyperParameter:  # noqa: A002 - Cerebro's names
    """Uniform in [min, max]."""
    return _Uniform(min, max)


def hp_quniform(min: float, max: float, q: float) -> HyperParameter:  # noqa: A002
    """Uniform in [min, max], rounded to a multiple of ``q``."""
    return _Uniform(min, max, q)


def hp_loguniform(min: float, max: float) -> HyperParameter:  # noqa: A002
    """``10 ** uniform(min, max)``: bounds are base-10 exponents."""
    return _Uniform(min, max, log=True)


def hp_qloguniform(min: float, max: float, q: float) -> HyperParameter:  # noqa: A002
    """``10 ** uniform(min, max)`` rounded to a multiple of ``q``."""
    return _Uniform(min, max, q, log=True)


def check_space(space: dict) -> dict:
    """Checks that ``space`` maps names to hp_* objects (or fixed values)."""
    if not isinstance(space, dict) or not space:
        raise ValueError("search_space must be a non-empty dict of name -> hp_* object")
    for k in space:
        if not isinstance(k, str):
            raise TypeError(f"search_space keys must be str, got {k!r}")
    return space


def grid_points(space: dict) -> list[dict]:
    """Every combination of the space's hp_choice values, in a stable order."""
    import itertools

    names = sorted(space)
    values = [space[n].grid() if isinstance(space[n], HyperParameter) else [space[n]] for n in names]
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


def sample_point(space: dict, rng: np.random.Generator) -> dict:
    return {n: (v.sample(rng) if isinstance(v, HyperParameter) else v) for n, v in sorted(space.items())}
