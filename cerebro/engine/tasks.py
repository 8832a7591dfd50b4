"""Plain records that cross the control channel between driver and workers."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional


@dataclasses.dataclass(frozen=True)
class ModelIO:
    """How a model reads a shard: which columns feed which input/output, reshaped how."""

    feature_columns: tuple[str, ...]
    label_columns: tuple[str, ...]
    input_shapes: tuple[tuple[int, ...], ...]
    label_shapes: tuple[tuple[int, ...], ...]
    label_encoding: tuple[Optional[dict[str, Any]], ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.feature_columns + self.label_columns


@dataclasses.dataclass(frozen=True)
class VisitTask:
    """One order to a worker: train one sub-epoch, or evaluate, one model on its shard.

    Attributes:
        kind: ``"train"`` or ``"eval"``.
        model_id: The model.
        epoch: Absolute epoch index of the model.
        partition: The worker's partition (sanity check on the worker side).
        spec_key: Store key of the model's ``.keras`` file (built once per worker, cached).
        state_key: Store key of the state to start from; ``None`` means the spec's weights.
        out_key: For ``train``: where to write the new state (atomically).
        batch_size: Batch size.
        seed: Seed for this visit's shuffle and dropout; fixed per (model, epoch, partition).
        io: Column mapping.
    """

    kind: str
    model_id: str
    epoch: int
    partition: int
    spec_key: str
    state_key: Optional[str]
    out_key: Optional[str]
    batch_size: int
    seed: int
    io: ModelIO
    fail_injection: Optional[str] = None


@dataclasses.dataclass
class VisitResult:
    """What a worker answers for one ``VisitTask``.

    Attributes:
        ok: False if the visit raised; ``error`` then holds the message.
        metrics: Mean metrics over the visit (Keras names, e.g. ``loss``, ``accuracy``).
        samples: Rows seen; metrics are weighted by it when aggregated over an epoch.
        load_s / compute_s / save_s: Seconds spent loading state, training or evaluating,
            and saving state.
        build_s: Seconds spent building the model from its spec (cache miss), else 0.
        built: True if the worker had to build the model (cache miss).
    """

    ok: bool
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    samples: int = 0
    load_s: float = 0.0
    compute_s: float = 0.0
    save_s: float = 0.0
    build_s: float = 0.0
    built: bool = False
    error: str = ""
    traceback: str = ""
