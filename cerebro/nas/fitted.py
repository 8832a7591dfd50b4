"""``FittedSearch``: what a finished NAS search keeps for ``predict``, ``evaluate`` and the
export of its preprocessing (``cerebro.nas.predict``)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Optional, Protocol

if TYPE_CHECKING:
    from cerebro.keras.model import SparkModel
    from cerebro.keras.inference import InputSpec
    from cerebro.nas.analysis import HeadTarget
    from cerebro.nas.dataprep import NasData


class SearchResult(Protocol):
    """What this package reads of a search's ``ModelSelectionResult``."""

    def get_best_model(self) -> SparkModel:
        """The best trial's model."""
        ...


@dataclasses.dataclass(frozen=True)
class FittedSearch:
    """A finished search's result and how its models read data.

    Attributes:
        result: The search's ``ModelSelectionResult`` (its best model predicts).
        targets: How each head's label column is fed (and decoded back to labels).
        feature_columns / label_columns: The prepared columns the models read.
        groups: The user's feature columns, grouped per input node (stacked at prediction).
        shapes: Per-row shape of each input.
        inputs: How inference reads each input (image decoding, the text encoding); empty
            for numeric inputs described by ``feature_columns`` and ``shapes``.
        dataset: The prepared dataset's fingerprint.
        weight_column: The search's per-row sample weights (``sample_weight_col``), or
            ``None``: ``evaluate(df)`` weighs rows by it, as the trials' validation did.
    """

    result: SearchResult
    targets: tuple[HeadTarget, ...]
    feature_columns: tuple[str, ...]
    label_columns: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    shapes: tuple[tuple[int, ...], ...]
    inputs: tuple[InputSpec, ...] = ()
    dataset: str = ""
    weight_column: Optional[str] = None

    @classmethod
    def of(cls, result: SearchResult, data: NasData) -> FittedSearch:
        """The record of a search that ran on ``data``."""
        return cls(result, tuple(data.targets), tuple(data.feature_columns),
                   tuple(data.label_columns), tuple(tuple(g) for g in data.groups),
                   tuple(tuple(s) for s in data.shapes), tuple(data.inputs),
                   data.info.fingerprint, data.info.weight_column)

    def input_specs(self) -> list[InputSpec]:
        """How each model input is read: the search's specs, or numeric columns."""
        from cerebro.keras.inference import InputSpec

        if self.inputs:
            return list(self.inputs)
        return [InputSpec(c, tuple(s)) for c, s in zip(self.feature_columns, self.shapes)]
