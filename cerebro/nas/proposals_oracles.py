"""The parallel-aware oracles: KerasTuner/AutoKeras oracles whose ``populate_space`` (their
public hook) asks a :class:`cerebro.nas.proposals.Planner` first. See ``proposals.py``."""

from __future__ import annotations

import functools
from typing import Any, Optional

from cerebro.nas.proposals import Planner, initial_hps_pending, moved, running


@functools.cache
def parallel_greedy_class() -> Any:
    """``ParallelGreedyOracle``: the exploring greedy oracle with parallel-aware proposals."""
    from cerebro.nas.oracles import exploring_greedy_class

    class ParallelGreedyOracle(exploring_greedy_class()):  # type: ignore[misc]
        """Greedy search whose proposals count pending trials as observations.

        Order of proposals: the user's ``initial_hps`` (AutoKeras's), the defaults, then
        near-default steps while nothing is scored; afterwards greedy steps from the best
        scored trial that move hyperparameters no pending trial is moving (the pending ones
        are treated as if scored at the best), with an ``exploration`` share of random
        draws, one in flight at a time. A pending or finished trial's values are never
        proposed again.
        """

        def __init__(self, exploration: float = 0.0, **kwargs: Any) -> None:
            super().__init__(exploration=exploration, **kwargs)
            self.planner = Planner(kwargs.get("seed"))
            self._exploring: set[str] = set()  # trial ids of the random draws

        def populate_space(self, trial_id: Any) -> Any:
            if initial_hps_pending(self):
                return super().populate_space(trial_id)
            seen = self.planner.seen(self)
            best = self.planner.best_values(self)
            values = None
            if best is None:
                values = self.planner.warmup(self, seen)
            elif self._explore_now():
                values = self.planner.sample(self, seen)
                if values is not None:
                    self._exploring.add(trial_id)
            if values is None:
                base = best if best is not None else self.planner.defaults(self)
                values = self.planner.mutate(self, base, seen, taken=moved(self, base))
            if values is None:
                values = self.planner.sample(self, seen)
            if values is None:
                return {"status": "STOPPED", "values": None}
            return running(values)

        def _explore_now(self) -> bool:
            if self.exploration <= 0:
                return False
            in_flight = {t.trial_id for t in self.ongoing_trials.values()}
            if self._exploring & in_flight:
                return False
            return bool(self.planner.rng.random() < self.exploration)

    return ParallelGreedyOracle


@functools.cache
def parallel_bayesian_class() -> Any:
    import keras_tuner as kt

    class ParallelBayesianOracle(kt.oracles.BayesianOptimizationOracle):  # type: ignore[misc]
        """KerasTuner's Bayesian optimisation, started from the defaults and ``warmup``
        near-defaults (unseen, pending ones counted) instead of random samples; the
        Gaussian-process phase is KerasTuner's, which already scores pending trials."""

        def __init__(self, warmup: int = 4, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.warmup = int(warmup)
            self.planner = Planner(kwargs.get("seed"))

        def populate_space(self, trial_id: Any) -> Any:
            if len(self.trials) <= self.warmup:
                values = self.planner.warmup(self, self.planner.seen(self))
                if values is not None:
                    return running(values)
            return super().populate_space(trial_id)

    return ParallelBayesianOracle


@functools.cache
def parallel_hyperband_class() -> Any:
    import keras_tuner as kt

    class ParallelHyperbandOracle(kt.oracles.HyperbandOracle):  # type: ignore[misc]
        """KerasTuner's Hyperband (a bracket's first round is filled in parallel, later
        rounds promote as soon as enough candidates are scored), whose first ``warmup``
        new round-0 members are the defaults and near-defaults instead of random draws."""

        def __init__(self, warmup: int = 4, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.warmup = int(warmup)
            self.planner = Planner(kwargs.get("seed"))

        def populate_space(self, trial_id: Any) -> Any:
            out = super().populate_space(trial_id)
            values: Optional[dict[str, Any]] = out.get("values")
            fresh = (values is not None and str(out.get("status")) == "RUNNING"
                     and values.get("tuner/round", 0) == 0 and not values.get("tuner/trial_id"))
            if fresh and len(self.trials) <= self.warmup:
                mine = self.planner.warmup(self, self.planner.seen(self))
                if mine is not None and values is not None:
                    tuner = {k: v for k, v in values.items() if k.startswith("tuner/")}
                    out = running({**mine, **tuner})
            return out

    return ParallelHyperbandOracle
