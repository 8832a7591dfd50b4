"""The ``Controller`` protocol: what drives a search on the model hopper (the ``SearchRunner``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from cerebro.wire import FailReason

if TYPE_CHECKING:
    from cerebro.engine.hopper import ModelHopper


class Controller(Protocol):
    """What drives a search: decides which models to add and reacts to their progress."""

    def refill(self, hopper: ModelHopper) -> None:
        """Called whenever capacity may be free: add models with ``hopper.add_model``."""

    def on_epoch_end(self, hopper: ModelHopper, model_id: str, epoch: int,
                     metrics: dict[str, float]) -> None:
        """An epoch finished; may call ``hopper.stop_model`` or ``hopper.extend``."""

    def on_model_done(self, hopper: ModelHopper, model_id: str) -> None:
        """A model finished every epoch it was given (or was stopped)."""

    def on_model_failed(self, hopper: ModelHopper, model_id: str, error: str,
                        reason: FailReason) -> None:
        """A model is out of the search."""

    def add_manual(self, hopper: ModelHopper, params: dict[str, Any]) -> str:
        """Adds a model with hyperparameters a person chose; returns its id."""
