"""The trial-source interface, in the spirit of Ray Tune's ``Searcher``.

``ask()`` returns a ``TrialRequest``, or ``WAIT`` (nothing now; ask again when a trial
ends, e.g. Hyperband waiting for a round), or ``DONE`` (the budget is spent).
``report(model_id, epoch, metrics)`` returns whether the trial continues, and
``finish(model_id, status, ...)`` ends it. The runner does everything else (including
early stopping: ``cerebro.search.stopping``).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any, Optional, Union

from cerebro.engine.runs import Objective
from cerebro.wire import ModelIO, ModelStatus


class _Signal:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


WAIT = _Signal("WAIT")
DONE = _Signal("DONE")


@dataclasses.dataclass
class BuiltModel:
    """A trial's model, ready to ship to the workers.

    Attributes:
        spec: The compiled model as ``.keras`` bytes (architecture, compile, initial weights).
        batch_size: Batch size of every sub-epoch.
        io: How the model reads a shard.
        custom_objects: Custom layers/functions the spec needs (cloudpickled beside it).
        transformation_fn: ``fn(x, y) -> (x, y)`` applied by the workers to every
            batch (or its cloudpickled bytes).
        summary: The Keras model summary, for the records.
        learning_rate: The compiled optimizer's learning rate (what driver-side callbacks
            such as ``ReduceLROnPlateau`` start from), if it has a settable one.
        callbacks: The trial's own epoch-level Keras callbacks (``SparkEstimator(callbacks=
            ...)``), checked; run on the driver after the search's (a resumed trial, which
            is not rebuilt, runs only the search's).
        cost_hint: The model's estimated multiply-adds per sample
            (``cerebro.keras.cost.cost_hint``): the scheduler ranks it by this until its
            first sub-epoch is measured.
    """

    spec: bytes
    batch_size: int
    io: ModelIO
    custom_objects: Optional[dict[str, Any]] = None
    transformation_fn: Optional[Callable[..., Any]] = None
    summary: str = ""
    learning_rate: Optional[float] = None
    callbacks: tuple[Any, ...] = ()
    cost_hint: Optional[float] = None


@dataclasses.dataclass
class TrialRequest:
    """A trial the source wants trained.

    Attributes:
        model_id: Its id (the directory of its run in the project).
        params: Its hyperparameters (shown and recorded).
        epochs: The epoch it trains up to (absolute, counted from 0).
        build: Builds its model from a seed for its initial weights (once, on the driver).
        seed_key: Seeds its initial weights and visits; the same in a rerun.
        start_epoch: The first epoch it trains (a Hyperband trial continuing its parent).
        init_from: The model whose result state it starts from (Hyperband's parent).
        resumable: Whether an interrupted earlier run of it in the store may be continued.
    """

    model_id: str
    params: dict[str, Any]
    epochs: int
    build: Callable[[int], BuiltModel]
    seed_key: str
    start_epoch: int = 0
    init_from: Optional[str] = None
    resumable: bool = False


Ask = Union[TrialRequest, _Signal]


class TrialSource(abc.ABC):
    """Where a search's trials come from.

    Attributes:
        objective: Ranks epochs and trials.
        budget: The planned number of trials, if known.
        name: The algorithm, for records (e.g. ``GreedyOracle``).
    """

    objective: Objective
    budget: Optional[int] = None
    name: str = ""

    @abc.abstractmethod
    def ask(self) -> Ask:
        """The next trial, ``WAIT`` or ``DONE``."""

    def report(self, model_id: str, epoch: int, metrics: dict[str, float]) -> bool:
        """An epoch of a trial ended with ``metrics``; returns False to stop the trial."""
        return True

    @abc.abstractmethod
    def finish(self, model_id: str, status: ModelStatus, best_value: Optional[float] = None,
               error: str = "", reason: str = "") -> None:
        """A trial ended (DONE, STOPPED or FAILED) with its best objective value.

        ``error``: why a FAILED trial failed; ``reason``: why a STOPPED one was stopped.
        """

    def add(self, params: dict[str, Any]) -> TrialRequest:
        """A trial with hyperparameters a person chose (the dashboard's "add").

        Raises:
            ValueError: The values do not fit the search space.
        """
        raise ValueError(f"{type(self).__name__} cannot add trials by hand")

    def params(self, model_id: str) -> dict[str, Any]:
        """The hyperparameters of a trial it handed out (also of earlier runs)."""
        return {}

    def earlier_trials(self) -> dict[str, ModelStatus]:
        """Trials of earlier runs of this project that this run did not train again
        (resumed searches): model id -> status."""
        return {}
