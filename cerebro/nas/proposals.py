"""Parallel-aware proposals for KerasTuner oracles (greedy, bayesian, hyperband).

A model-hopping search keeps several trials in flight. Stock oracles then propose while
nothing is scored: AutoKeras's greedy mutates the *defaults* over and over (and the
``exploration`` share draws blind samples), KerasTuner's Bayesian and Hyperband start from
random samples. Sequential AutoKeras does not suffer this: its first trial is the defaults,
and every later one starts from a scored trial.

The oracles here propose, in the spirit of Optuna's constant liar:

* first the space's defaults, then *near-default* mutations (one hyperparameter moved one
  step), so the first wave of a parallel search is what a sequential search would try;
* for greedy, pending (running) trials count as observations: they are treated as if scored
  at the current best, so their values are never proposed again and the directions they
  explore (the hyperparameters they moved away from the best) are taken, and the next
  proposal moves another one; blind ``exploration`` draws wait for the first score and only
  one is in flight at a time;
* Bayesian keeps KerasTuner's own pending-trial handling once its Gaussian process is fit
  (it scores ongoing trials at the GP's pessimistic estimate); its random start becomes
  defaults and near-defaults;
* Hyperband fills a bracket's first round in parallel (KerasTuner does) and its first
  random members become the defaults and near-defaults.

Only public KerasTuner/AutoKeras API is used (``populate_space``, ``get_best_trials``,
``trials``, ``ongoing_trials``, ``hyperparameters`` and the ``HyperParameters`` /
hyperparameter objects); whether the user's ``initial_hps`` are all tried comes from
AutoKeras's public ``GreedyOracle.get_state()``, in :func:`initial_hps_pending`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Set as AbstractSet
from typing import Any, Optional

import numpy as np

TUNER_PREFIX = "tuner/"


def values_key(values: dict[str, Any]) -> str:
    """A hashable identity of a trial's values (KerasTuner's ``tuner/*`` bookkeeping ignored)."""
    clean = {k: v for k, v in values.items() if not k.startswith(TUNER_PREFIX)}
    return json.dumps(clean, sort_keys=True, default=str)


def initial_hps_pending(oracle: Any) -> bool:
    """Whether AutoKeras's ``GreedyOracle`` still has user ``initial_hps`` to hand out.

    Reads the oracle's public ``get_state()["tried_initial_hps"]`` (a list of bools aligned
    with ``initial_hps``); an oracle without it (not a ``GreedyOracle``) has none pending.
    """
    flags = oracle.get_state().get("tried_initial_hps")
    if flags is None:
        return False
    return not all(flags)


def tunable(space: list[Any]) -> list[Any]:
    """The hyperparameters a proposal may move: not ``Fixed``, not ``tuner/*``."""
    import keras_tuner as kt

    return [h for h in space if not isinstance(h, kt.engine.hyperparameters.Fixed)
            and not h.name.startswith(TUNER_PREFIX)]


def neighbours(hp: Any, value: Any) -> list[Any]:
    """The values one step away from ``value`` for ``hp`` (adjacent choice, flipped
    boolean, one ``step`` or a factor of 2 on a log scale)."""
    import keras_tuner as kt

    hpm = kt.engine.hyperparameters
    if isinstance(hp, hpm.Boolean):
        return [not value]
    if isinstance(hp, hpm.Choice):
        vals = list(hp.values)
        i = vals.index(value) if value in vals else vals.index(hp.default)
        return [vals[j] for j in (i - 1, i + 1) if 0 <= j < len(vals)]
    if isinstance(hp, (hpm.Int, hpm.Float)):
        lo, hi = hp.min_value, hp.max_value
        if hp.step:
            out = [value - hp.step, value + hp.step]
        elif getattr(hp, "sampling", "linear") == "log" and lo > 0:
            out = [value / 2, value * 2]
        else:
            out = [value - (hi - lo) / 10, value + (hi - lo) / 10]
        cast = int if isinstance(hp, hpm.Int) else float
        return [cast(v) for v in out if lo <= v <= hi and not math.isclose(v, value)]
    return []


class Planner:
    """Builds proposals over an oracle's space from its public state.

    Args:
        seed: Seed of the proposals' own random choices.
    """

    def __init__(self, seed: Optional[int]) -> None:
        self.rng = np.random.default_rng(seed)

    # -- the oracle's state --------------------------------------------------------------------
    @staticmethod
    def seen(oracle: Any) -> set[str]:
        """Values of every trial so far, running or finished."""
        return {values_key(t.hyperparameters.values) for t in oracle.trials.values()}

    @staticmethod
    def pending(oracle: Any) -> list[Any]:
        return list(oracle.ongoing_trials.values())

    @staticmethod
    def best_values(oracle: Any) -> Optional[dict[str, Any]]:
        """The best *scored* trial's values (KerasTuner's ``get_best_trials`` pads its
        answer with unscored trials, which would make a pending trial the best)."""
        best = [t for t in oracle.get_best_trials(max(1, len(oracle.trials)))
                if str(t.status) == "COMPLETED" and t.score is not None]
        return dict(best[0].hyperparameters.values) if best else None

    # -- values ----------------------------------------------------------------------------------
    @staticmethod
    def complete(oracle: Any, base: dict[str, Any],
                 changes: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        """``base`` with ``changes``, keeping exactly the active hyperparameters (the
        defaults for those that ``base`` lacks)."""
        import keras_tuner as kt

        changes = changes or {}
        hps = kt.HyperParameters()
        for hp in oracle.hyperparameters.space:
            hps.merge([hp])
            if hps.is_active(hp):
                if hp.name in changes:
                    hps.values[hp.name] = changes[hp.name]
                elif hp.name in base:
                    hps.values[hp.name] = base[hp.name]
                else:
                    hps.values[hp.name] = hp.default
        return dict(hps.values)

    def defaults(self, oracle: Any) -> dict[str, Any]:
        return self.complete(oracle, {})

    def _order(self, hps: list[Any], taken: AbstractSet[str]) -> list[Any]:
        """``hps`` shuffled, the ones pending trials already move last."""
        order = list(self.rng.permutation(len(hps)))
        return sorted((hps[i] for i in order), key=lambda h: h.name in taken)

    def near(self, oracle: Any, base: dict[str, Any], seen: set[str],
             taken: AbstractSet[str] = frozenset()) -> Optional[dict[str, Any]]:
        """An unseen proposal one step from ``base`` (one hyperparameter moved), preferring
        hyperparameters not in ``taken``; ``None`` when every such step is seen."""
        active = [h for h in tunable(oracle.hyperparameters.space) if h.name in base]
        for hp in self._order(active, taken):
            steps = neighbours(hp, base[hp.name])
            for j in self.rng.permutation(len(steps)):
                values = self.complete(oracle, base, {hp.name: steps[j]})
                if values_key(values) not in seen:
                    return values
        return None

    def mutate(self, oracle: Any, base: dict[str, Any], seen: set[str],
               taken: AbstractSet[str] = frozenset(), tries: int = 50) -> Optional[dict[str, Any]]:
        """A greedy step from ``base``: one or two hyperparameters re-drawn (a neighbour
        half of the time, a fresh sample otherwise), untaken ones first."""
        active = [h for h in tunable(oracle.hyperparameters.space) if h.name in base]
        if not active:
            return None
        for attempt in range(tries):
            ordered = self._order(active, taken if attempt < tries // 2 else set())
            k = 1 if self.rng.random() < 0.7 else min(2, len(ordered))
            changes = {}
            for hp in ordered[:k]:
                steps = neighbours(hp, base[hp.name])
                if steps and self.rng.random() < 0.5:
                    changes[hp.name] = steps[int(self.rng.integers(len(steps)))]
                else:
                    changes[hp.name] = hp.random_sample(int(self.rng.integers(2**31)))
            values = self.complete(oracle, base, changes)
            if values_key(values) not in seen:
                return values
        return None

    def sample(self, oracle: Any, seen: set[str], tries: int = 100) -> Optional[dict[str, Any]]:
        """An unseen random draw of every active hyperparameter (Fixed ones kept)."""
        fixed = {h.name for h in oracle.hyperparameters.space} - {
            h.name for h in tunable(oracle.hyperparameters.space)}
        for _ in range(tries):
            draw = {h.name: h.random_sample(int(self.rng.integers(2**31)))
                    for h in tunable(oracle.hyperparameters.space)}
            values = self.complete(oracle, {}, {k: v for k, v in draw.items() if k not in fixed})
            if values_key(values) not in seen:
                return values
        return None

    def warmup(self, oracle: Any, seen: set[str]) -> Optional[dict[str, Any]]:
        """The defaults if untried, else an unseen near-default (``None`` when all are seen)."""
        defaults = self.defaults(oracle)
        if values_key(defaults) not in seen:
            return defaults
        return self.near(oracle, defaults, seen, taken=moved(oracle, defaults))


def moved(oracle: Any, base: dict[str, Any]) -> set[str]:
    """Names that pending trials moved away from ``base`` (the directions they explore)."""
    out: set[str] = set()
    for trial in oracle.ongoing_trials.values():
        values = trial.hyperparameters.values
        out |= {k for k, v in values.items()
                if not k.startswith(TUNER_PREFIX) and k in base and base[k] != v}
    return out


def running(values: dict[str, Any]) -> dict[str, Any]:
    return {"status": "RUNNING", "values": values}
