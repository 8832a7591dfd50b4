"""``SparkModel``: a trained model, its ``.keras`` spec and state, and how it reads a DataFrame.

It keeps upstream Cerebro's ``getX``/``setX`` accessors besides its plain attributes;
``docs/migrating.md`` lists what changed and why.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from cerebro._checks import whole_number
from cerebro.keras import state as state_mod


class SparkModel:
    """A trained model: its ``.keras`` spec, final state and how it reads a DataFrame.

    Attributes:
        model_id: The run's id in the store.
        history: Per-epoch metrics (``train_loss``, ``val_loss``, ``train_<m>``, ``val_<m>``).
        feature_columns / label_columns / input_shapes: The columns the model reads.
        output_names: The prediction columns ``transform`` adds (``<label>__output``).
    """

    def __init__(self, model_id: str, spec: Any, state: Any, history: dict[str, Any],
                 feature_columns: Sequence[str], label_columns: Sequence[str],
                 input_shapes: Sequence[tuple[int, ...]], custom_objects: Optional[dict[str, Any]] = None,
                 output_names: Optional[Sequence[str]] = None,
                 params: Optional[dict[str, Any]] = None) -> None:
        self.model_id = model_id
        self._spec = spec
        self._state = state
        self.history = history
        self.feature_columns = list(feature_columns)
        self.label_columns = list(label_columns)
        self.input_shapes = [tuple(s) for s in input_shapes]
        self.custom_objects = custom_objects
        self.params = dict(params or {})
        self.output_names = list(output_names or [f"{c}__output" for c in self.label_columns])
        self._model = None

    @classmethod
    def from_store(cls, store: Any, model_id: str, spec_key: str, state_key: Optional[str], **kw: Any) -> Any:
        """A model whose spec and state are read from the store only when first needed."""
        return cls(model_id, lambda: store.read_bytes(spec_key),
                   (lambda: store.read_bytes(state_key)) if state_key else None, **kw)

    @property
    def spec_bytes(self) -> bytes:
        if callable(self._spec):
            self._spec = self._spec()
        return bytes(self._spec)

    @property
    def state_bytes(self) -> Optional[bytes]:
        if callable(self._state):
            self._state = self._state()
        return None if self._state is None else bytes(self._state)

    def keras(self) -> Any:
        """Returns the trained ``keras.Model`` (compiled, with the final weights)."""
        if self._model is None:
            model = state_mod.model_from_bytes(self.spec_bytes, self.custom_objects)
            if self.state_bytes is not None:
                state_mod.set_state(model, state_mod.state_from_bytes(self.state_bytes))
            self._model = model
        return self._model

    def predict(self, x: Any, batch_size: int = 256) -> Any:
        """Predicts on numpy input(s) shaped like the model's inputs."""
        return self.keras().predict(x, batch_size=whole_number(batch_size, "batch_size"),
                                    verbose=0)

    def output_widths(self) -> list[int]:
        """Values per row of each model output (1 for a scalar output)."""
        import math

        return [math.prod(int(d) for d in t.shape[1:]) for t in self.keras().outputs]

    def transform(self, df: Any, batch_size: int = 256) -> Any:
        """Adds prediction column(s) to a Spark DataFrame by distributed inference.

        An output of one value per row becomes a ``double`` column, as upstream Cerebro's
        was (so ``F.exp(df.Sales)`` works); a wider output becomes an ``array<float>``.
        """
        from pyspark.sql import functions as F

        from cerebro.keras.inference import transform

        out = transform(df, self.spec_bytes, self.state_bytes, self.feature_columns,
                        self.input_shapes, self.output_names,
                        batch_size=whole_number(batch_size, "batch_size"),
                        custom_objects=self.custom_objects)
        for name, width in zip(self.output_names, self.output_widths()):
            if width == 1:
                out = out.withColumn(name, F.element_at(F.col(f"`{name}`"), 1).cast("double"))
        return out

    # -- upstream's accessors -------------------------------------------------------------
    def setOutputCols(self, value: Sequence[str]) -> Any:
        """Names the prediction columns ``transform`` adds, one per label column."""
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise TypeError(f"output columns must be a list of str, got {value!r}")
        value = list(value)
        if len(value) != len(self.output_names):
            raise ValueError(
                f"model {self.model_id} has {len(self.output_names)} output(s) "
                f"{self.output_names}, but {len(value)} output column name(s) {value} were given")
        self.output_names = value
        return self

    def set_output_columns(self, output_columns: Sequence[str]) -> Any:
        """Same as ``setOutputCols`` (upstream's ``CerebroModel`` name)."""
        return self.setOutputCols(output_columns)

    def getOutputCols(self) -> list[str]:
        return list(self.output_names)

    def getHistory(self) -> dict[str, Any]:
        return self.history

    def getModel(self) -> Any:
        return self.keras()

    def getFeatureColumns(self) -> list[str]:
        return list(self.feature_columns)

    def getLabelColumns(self) -> list[str]:
        return list(self.label_columns)

    def getRunId(self) -> str:
        return self.model_id

    def getCustomObjects(self) -> dict[str, Any]:
        return self.custom_objects or {}

    def setCustomObjects(self, value: Optional[dict[str, Any]]) -> Any:
        self.custom_objects = value
        self._model = None
        return self

    def __repr__(self) -> str:
        return f"SparkModel({self.model_id!r}, outputs={self.output_names})"
