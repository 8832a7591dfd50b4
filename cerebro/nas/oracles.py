"""Tuner names -> KerasTuner/AutoKeras oracles. The search algorithms are theirs, not ours."""

from __future__ import annotations

import functools
from typing import Any, Optional

import numpy as np

PROPOSALS = ("parallel", "stock")

TUNERS = ("greedy", "random", "bayesian", "hyperband", "grid")


@functools.cache
def exploring_greedy_class() -> Any:
    import keras_tuner as kt
    from autokeras.tuners.greedy import GreedyOracle

    from cerebro._upstream import oracle_random_values
    from cerebro.nas.proposals import initial_hps_pending

    class ExploringGreedyOracle(GreedyOracle):  # type: ignore[misc]  # untyped upstream
        """AutoKeras's greedy oracle, plus ``exploration``: the probability that a trial
        samples every hyperparameter at random instead of mutating the best trial."""

        def __init__(self, exploration: float = 0.0, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            if not 0.0 <= exploration <= 1.0:
                raise ValueError(f"exploration must be in [0, 1], got {exploration}")
            self.exploration = exploration
            self._explore_rng = np.random.default_rng(kwargs.get("seed"))

        def populate_space(self, trial_id: Any) -> Any:
            if (self.exploration > 0 and not initial_hps_pending(self)
                    and self._explore_rng.random() < self.exploration):
                values = oracle_random_values(self)
                if values is not None:
                    return {"status": kt.engine.trial.TrialStatus.RUNNING, "values": values}
            return super().populate_space(trial_id)

        def get_state(self) -> Any:
            state = super().get_state()
            state["exploration"] = self.exploration
            return state

        def set_state(self, state: Any) -> None:
            super().set_state(state)
            self.exploration = state.get("exploration", self.exploration)

    return ExploringGreedyOracle


def _classes(proposals: str) -> dict[str, Any]:
    """Tuner name -> oracle class; ``parallel`` ones propose knowing what is in flight."""
    import keras_tuner as kt

    from cerebro.nas import proposals_oracles as po

    if proposals not in PROPOSALS:
        raise ValueError(f"proposals must be one of {list(PROPOSALS)}, got {proposals!r}")
    if proposals == "stock":
        return {"greedy": exploring_greedy_class(), "bayesian": kt.oracles.BayesianOptimizationOracle,
                "hyperband": kt.oracles.HyperbandOracle}
    return {"greedy": po.parallel_greedy_class(), "bayesian": po.parallel_bayesian_class(),
            "hyperband": po.parallel_hyperband_class()}


def make_oracle(tuner: Any, objective: Any, max_trials: int, hyperparameters: Any, seed: Optional[int],
                max_epochs: Optional[int], **kwargs: Any) -> Any:
    """Returns an oracle for ``tuner`` (a name in ``TUNERS`` or an ``Oracle`` instance).

    ``proposals="parallel"`` (the default) gives greedy, bayesian and hyperband the
    parallel-aware proposals of ``cerebro.nas.proposals``; ``"stock"`` the upstream oracles.

    Raises:
        ValueError: an unknown tuner name (the message lists the valid ones), or
            ``hyperband`` without a number of epochs.
        TypeError: ``tuner`` is neither a name nor an Oracle, or an unknown keyword.
    """
    import keras_tuner as kt

    if isinstance(tuner, kt.Oracle):
        return tuner
    if not isinstance(tuner, str):
        raise TypeError(f"tuner must be one of {list(TUNERS)} or a keras_tuner.Oracle, "
                        f"got {type(tuner).__name__}")
    name = tuner.lower()
    classes = _classes(kwargs.pop("proposals", "parallel"))
    common = dict(objective=objective, max_trials=max_trials, hyperparameters=hyperparameters,
                  seed=seed, tune_new_entries=True, allow_new_entries=True)
    try:
        if name == "greedy":
            return classes["greedy"](**common, **kwargs)
        if name == "random":
            return kt.oracles.RandomSearchOracle(**common, **kwargs)
        if name == "bayesian":
            return classes["bayesian"](**common, **kwargs)
        if name == "grid":
            return kt.oracles.GridSearchOracle(**common, **kwargs)
        if name == "hyperband":
            max_epochs = kwargs.pop("max_epochs", max_epochs)
            if not max_epochs:
                raise ValueError("the hyperband tuner needs max_epochs (or fit(epochs=...))")
            common.pop("max_trials")
            oracle = classes["hyperband"](**common, max_epochs=int(max_epochs), **kwargs)
            oracle.max_trials = max_trials  # KerasTuner's Hyperband has no budget; honour ours
            return oracle
    except TypeError as e:
        raise TypeError(f"tuner {name!r} does not accept these options {sorted(kwargs)}: {e}") from None
    raise ValueError(f"unknown tuner {tuner!r}; choose one of {list(TUNERS)} or pass a "
                     "keras_tuner.Oracle")
