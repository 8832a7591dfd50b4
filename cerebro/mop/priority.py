"""Longest-remaining-first: each model's estimated seconds per visit, and its remaining work.

A model's TRAIN estimate is the mean of its measured sub-epochs once it has one. Before that
it comes from the ``cost_hint`` the driver gave when it added the model (a parameter or FLOP
count: any unit, as long as every model uses the same), scaled to seconds by the models that
have both a hint and a first measurement; a model without a hint gets the mean first
measurement (1 s before any). An EVAL visit is estimated by the model's measured evaluations,
else a quarter of its sub-epoch.

Only a model's first TRAIN measurement moves the estimates of *other* models (the scale);
``CostModel.version`` counts those moves so the scheduler re-ranks its queues then.
"""

from __future__ import annotations

EVAL_SHARE = 0.25  # an unmeasured EVAL visit, as a share of the model's sub-epoch


class CostModel:
    """Estimated seconds per visit of every model the scheduler knows."""

    def __init__(self) -> None:
        self._hint: dict[str, float] = {}
        self._train: dict[str, list[float]] = {}  # model -> [sum, count]
        self._eval: dict[str, list[float]] = {}
        self._hinted = [0.0, 0.0]  # over hinted, measured models: [sum of hints, of 1st times]
        self._first = [0.0, 0.0]  # over measured models: [sum of first times, count]
        self.version = 0

    def add(self, model_id: str, cost_hint: float | None) -> None:
        """Registers a model (again: a re-added model keeps its measurements)."""
        if cost_hint is not None and cost_hint > 0 and model_id not in self._hint:
            self._hint[model_id] = float(cost_hint)
            if model_id in self._train:  # measured before it had a hint
                self._hinted[0] += cost_hint
                self._hinted[1] += self._train[model_id][0] / self._train[model_id][1]
                self.version += 1

    def observe(self, model_id: str, train: bool, seconds: float) -> None:
        """Books one measured visit of ``model_id``."""
        if seconds <= 0:
            return
        book = self._train if train else self._eval
        acc = book.get(model_id)
        if acc is not None:
            acc[0] += seconds
            acc[1] += 1
            return
        book[model_id] = [seconds, 1.0]
        if train:  # the model's first measurement rescales the unmeasured models
            self._first[0] += seconds
            self._first[1] += 1
            hint = self._hint.get(model_id)
            if hint is not None:
                self._hinted[0] += hint
                self._hinted[1] += seconds
            self.version += 1

    def train_s(self, model_id: str) -> float:
        """Estimated seconds of one of the model's sub-epochs."""
        acc = self._train.get(model_id)
        if acc is not None:
            return acc[0] / acc[1]
        hint = self._hint.get(model_id)
        if hint is not None and self._hinted[0] > 0:
            return hint * self._hinted[1] / self._hinted[0]
        if hint is not None and not self._first[1]:
            return hint  # nothing measured yet: hints rank among themselves
        return self._first[0] / self._first[1] if self._first[1] else 1.0

    def eval_s(self, model_id: str) -> float:
        """Estimated seconds of one of the model's EVAL visits."""
        acc = self._eval.get(model_id)
        return acc[0] / acc[1] if acc is not None else EVAL_SHARE * self.train_s(model_id)

    def remaining_s(self, model_id: str, train_left: int, eval_left: int) -> float:
        """Estimated seconds of the model's visits still to run."""
        work = 0.0
        if train_left:
            work += train_left * self.train_s(model_id)
        if eval_left:
            work += eval_left * self.eval_s(model_id)
        return work
