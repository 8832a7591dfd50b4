"""``SparkEstimator`` (a Keras model plus how to train it) and ``SparkModel`` (a trained one)."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from cerebro.keras import state as state_mod


class SparkEstimator:
    """A Keras 3 model with its optimizer, loss, metrics and batch size.

    Cerebro's searches call a user ``estimator_gen_fn(params)`` that returns one of these
    per configuration; the model is compiled here, on the driver, and shipped to the workers
    once as a ``.keras`` file.

    Args:
        model: An uncompiled (or compiled) ``keras.Model``.
        optimizer: A ``keras.optimizers.Optimizer`` instance (one per estimator) or name.
        loss: A Keras loss (name, function or instance), or a list/dict for several outputs.
        metrics: Keras metrics, e.g. ``["accuracy"]``.
        batch_size: Batch size of every sub-epoch.
        custom_objects: Custom layers/functions the ``.keras`` file needs to load.
        callbacks: Not run on workers (MOP trains in sub-epochs); must be empty.
        feature_columns / label_columns: Override the search's columns for this model.
        input_shapes: One shape per feature column (without the batch dimension); default:
            taken from the model's inputs.
    """

    def __init__(self, model, optimizer, loss, metrics: Optional[Sequence[Any]] = None,
                 batch_size: int = 32, custom_objects: Optional[dict] = None,
                 callbacks: Optional[list] = None, feature_columns=None, label_columns=None,
                 input_shapes=None):
        import keras

        if not isinstance(model, keras.Model):
            raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if callbacks:
            raise ValueError(
                "Keras callbacks cannot run inside model-hopping sub-epochs; "
                "use the search's epoch-end results instead")
        self.model = model
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = list(metrics or [])
        self.batch_size = batch_size
        self.custom_objects = custom_objects
        self.feature_columns = feature_columns
        self.label_columns = label_columns
        self.input_shapes = input_shapes

    def compiled_model(self):
        self.model.compile(optimizer=self.optimizer, loss=self.loss, metrics=self.metrics)
        return self.model

    def model_input_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(int(d) for d in t.shape[1:]) for t in self.model.inputs]

    def model_output_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(int(d) for d in t.shape[1:]) for t in self.model.outputs]

    def to_bytes(self) -> bytes:
        return state_mod.model_to_bytes(self.compiled_model())


class SparkModel:
    """A trained model: its ``.keras`` spec, final state and how it reads a DataFrame.

    Attributes:
        model_id: The run's id in the store.
        history: Per-epoch metrics (``train_loss``, ``val_loss``, ``train_<m>``, ``val_<m>``).
        feature_columns / label_columns / input_shapes: The columns the model reads.
    """

    def __init__(self, model_id: str, spec, state, history: dict,
                 feature_columns: Sequence[str], label_columns: Sequence[str],
                 input_shapes: Sequence[tuple[int, ...]], custom_objects: Optional[dict] = None,
                 output_names: Optional[Sequence[str]] = None, params: Optional[dict] = None):
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
    def from_store(cls, store, model_id: str, spec_key: str, state_key: Optional[str], **kw):
        """A model whose spec and state are read from the store only when first needed."""
        return cls(model_id, lambda: store.read_bytes(spec_key),
                   (lambda: store.read_bytes(state_key)) if state_key else None, **kw)

    @property
    def spec_bytes(self) -> bytes:
        if callable(self._spec):
            self._spec = self._spec()
        return self._spec

    @property
    def state_bytes(self) -> Optional[bytes]:
        if callable(self._state):
            self._state = self._state()
        return self._state

    def keras(self):
        """Returns the trained ``keras.Model`` (compiled, with the final weights)."""
        if self._model is None:
            model = state_mod.model_from_bytes(self.spec_bytes, self.custom_objects)
            if self.state_bytes is not None:
                state_mod.set_state(model, state_mod.state_from_bytes(self.state_bytes))
            self._model = model
        return self._model

    def predict(self, x, batch_size: int = 256):
        """Predicts on numpy input(s) shaped like the model's inputs."""
        return self.keras().predict(x, batch_size=batch_size, verbose=0)

    def transform(self, df, batch_size: int = 256):
        """Adds prediction column(s) to a Spark DataFrame by distributed inference."""
        from cerebro.keras.inference import transform

        return transform(df, self.spec_bytes, self.state_bytes, self.feature_columns, self.input_shapes,
                         self.output_names, batch_size=batch_size,
                         custom_objects=self.custom_objects)
