"""``SparkEstimator``: a Keras model plus how to train it (``SparkModel``, the trained one, is
in ``cerebro.keras.model``).

Both keep upstream Cerebro's constructor keywords and its ``getX``/``setX`` accessors besides
their plain attributes; ``docs/migrating.md`` lists what changed and why.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional, Sequence

from cerebro._checks import whole_number
from cerebro._logging import get_logger
from cerebro.keras import state as state_mod
from cerebro.keras.model import SparkModel

__all__ = ["SparkEstimator", "SparkModel", "check_transformation_fn"]

log = get_logger("keras")



def _check_model(model: Any) -> Any:
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    return model


def _check_callbacks(callbacks: Any) -> list[Any]:
    """Epoch-level Keras callbacks, run per trial on the driver; the rest are refused."""
    from cerebro.keras.callbacks import check_callbacks

    return check_callbacks(callbacks)


def _check_weight_col(name: Optional[str]) -> Optional[str]:
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"sample_weight_col must be a column name (str) or None, got {name!r}")
    return name


def check_transformation_fn(fn: Optional[Callable[..., Any]]) -> Optional[bytes]:
    """Validates a per-batch ``transformation_fn(x, y) -> (x, y)``; returns it cloudpickled.

    Raises:
        TypeError: ``fn`` is not callable, takes other than two arguments (upstream's
            ``fn(tf.data.Dataset) -> Dataset`` takes one), or cannot be pickled.
    """
    if fn is None:
        return None
    if not callable(fn):
        raise TypeError(f"transformation_fn must be callable, got {type(fn).__name__}")
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        raise TypeError(
            f"transformation_fn must take two arguments, fn(x, y) -> (x, y), the numpy arrays "
            f"of one batch; {getattr(fn, '__name__', fn)!r} takes {inspect.signature(fn)}. "
            "Upstream Cerebro passed a tf.data.Dataset (fn(dataset) -> dataset); there is no "
            "TensorFlow here, see docs/migrating.md for how to rewrite it") from None
    except ValueError:  # no signature (some builtins): let the worker find out
        pass
    try:
        return _dumps_by_value(fn)
    except Exception as e:  # noqa: BLE001 - cloudpickle raises many types
        raise TypeError(f"transformation_fn cannot be pickled for the workers: {e}") from e


def _dumps_by_value(fn: Callable[..., Any]) -> bytes:
    """Cloudpickles ``fn``; a function of the user's own module travels by value.

    cloudpickle refers to a function of an importable module by name, and the workers may
    not have that module (a ``helpers.py`` beside the script). Installed packages (under
    ``site-packages``) and cerebro itself are still referred to by name.
    """
    import sys

    import cloudpickle

    mod = sys.modules.get(getattr(fn, "__module__", None) or "")
    path = getattr(mod, "__file__", None) or ""
    own = (mod is not None and mod.__name__ != "__main__" and path
           and "-packages" not in path and not mod.__name__.startswith("cerebro"))
    if not own:
        return bytes(cloudpickle.dumps(fn))
    cloudpickle.register_pickle_by_value(mod)
    try:
        return bytes(cloudpickle.dumps(fn))
    finally:
        cloudpickle.unregister_pickle_by_value(mod)


class SparkEstimator:
    """A Keras 3 model with its optimizer, loss, metrics and batch size.

    Cerebro's searches call a user ``estimator_gen_fn(params)`` that returns one of these
    per configuration; the model is compiled here, on the driver, and shipped to the workers
    once as a ``.keras`` file.

    Args:
        model: An uncompiled (or compiled) ``keras.Model``.
        optimizer: A ``keras.optimizers.Optimizer`` instance (one per estimator) or name;
            default: the optimizer of an already compiled ``model``.
        loss: A Keras loss (name, function or instance), or a list/dict for several outputs;
            default: the loss of an already compiled ``model``.
        metrics: Keras metrics, e.g. ``["accuracy"]``.
        batch_size: Batch size of every sub-epoch; a whole float such as ``64.0`` is taken
            as 64. ``None`` means 32.
        custom_objects: Custom layers/functions the ``.keras`` file needs to load.
        callbacks: Epoch-level Keras callbacks (``EarlyStopping``, ``ReduceLROnPlateau``,
            ...), one copy per trial, run on the driver at each epoch's end, as for
            ``HyperHyperModel.fit(callbacks=...)``; per-batch ones are refused.
        feature_columns / label_columns: Override the search's columns for this model.
        input_shapes: One shape per feature column (without the batch dimension); default:
            taken from the model's inputs.
        loss_weights: Weights of the losses of several outputs (``keras.Model.compile``).
        weighted_metrics: Keras metrics weighted by the sample weights (``keras.Model.
            compile``'s ``weighted_metrics``; with ``sample_weight_col``): a mean over the
            sum of the weights, where ``metrics`` are a mean over the rows.
        transformation_fn: ``fn(x, y) -> (x, y)`` applied by the worker to every train and
            eval batch: ``x``/``y`` are numpy arrays (lists of arrays for several
            inputs/outputs). See ``docs/migrating.md``.
        sample_weight_col: A numeric column of per-row weights, given to Keras's ``fit`` and
            ``evaluate`` as ``sample_weight`` on the workers. The search prepares the weight
            column of its first configuration's estimator; it is checked (numeric, never
            null, finite, >= 0) before any training.
        shuffle_buffer_size: The fork's shuffle buffer; ignored (each visit shuffles the
            worker's whole shard).
    """

    def __init__(self, model: Any = None, optimizer: Any = None, loss: Any = None,
                 metrics: Optional[Sequence[Any]] = None, batch_size: Optional[int] = 32,
                 custom_objects: Optional[dict[str, Any]] = None, callbacks: Optional[list[Any]] = None,
                 feature_columns: Any = None, label_columns: Any = None, input_shapes: Any = None, *,
                 loss_weights: Any = None, transformation_fn: Optional[Callable[..., Any]] = None,
                 sample_weight_col: Optional[str] = None,
                 shuffle_buffer_size: Optional[int] = None,
                 weighted_metrics: Optional[Sequence[Any]] = None) -> None:
        self.model = _check_model(model)
        self.optimizer = optimizer if optimizer is not None else getattr(model, "optimizer", None)
        if self.optimizer is None:
            raise ValueError("optimizer is required: pass optimizer=... or a compiled model")
        self.loss = loss if loss is not None else getattr(model, "loss", None)
        if self.loss is None:
            raise ValueError("loss is required: pass loss=... (a Keras loss name, function or "
                             "instance) or a compiled model")
        self.metrics = list(metrics or [])
        self.weighted_metrics = list(weighted_metrics or [])
        self.batch_size = whole_number(32 if batch_size is None else batch_size, "batch_size")
        self.custom_objects = custom_objects
        self.callbacks = _check_callbacks(callbacks)
        self.feature_columns = feature_columns
        self.label_columns = label_columns
        self.input_shapes = input_shapes
        self.loss_weights = loss_weights
        self._transform_bytes = check_transformation_fn(transformation_fn)
        self.transformation_fn = transformation_fn
        self.sample_weight_col = _check_weight_col(sample_weight_col)
        if shuffle_buffer_size is not None:
            log.info("SparkEstimator(shuffle_buffer_size=%s) ignored: every visit shuffles "
                     "the worker's whole shard", shuffle_buffer_size)

    def compiled_model(self) -> Any:
        self.model.compile(optimizer=self.optimizer, loss=self.loss, metrics=self.metrics,
                           loss_weights=self.loss_weights,
                           weighted_metrics=self.weighted_metrics or None)
        return self.model

    def model_input_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(int(d) for d in t.shape[1:]) for t in self.model.inputs]

    def model_output_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(int(d) for d in t.shape[1:]) for t in self.model.outputs]

    def get_model_shapes(self) -> tuple[list[list[int]], list[list[int]]]:
        """Upstream's shapes: ``([[-1, *input]], [[-1, *output]])``, ``-1`` the batch."""
        return ([[-1, *s] for s in self.model_input_shapes()],
                [[-1, *s] for s in self.model_output_shapes()])

    def to_bytes(self) -> bytes:
        return state_mod.model_to_bytes(self.compiled_model())

    def transformation_fn_bytes(self) -> Optional[bytes]:
        """The cloudpickled ``transformation_fn`` (written beside the spec), or ``None``."""
        return self._transform_bytes

    # -- upstream's accessors (pyspark.ml Params style, camelCase); setters return self --
    def getModel(self) -> Any:
        return self.model

    def setModel(self, value: Any) -> "SparkEstimator":
        self.model = _check_model(value)
        return self

    def getOptimizer(self) -> Any:
        return self.optimizer

    def setOptimizer(self, value: Any) -> "SparkEstimator":
        self.optimizer = value
        return self

    def getLoss(self) -> Any:
        return self.loss

    def setLoss(self, value: Any) -> "SparkEstimator":
        self.loss = value
        return self

    def getLossWeights(self) -> Any:
        return self.loss_weights

    def setLossWeights(self, value: Any) -> "SparkEstimator":
        self.loss_weights = value
        return self

    def getMetrics(self) -> list[Any]:
        return self.metrics

    def setMetrics(self, value: Any) -> "SparkEstimator":
        self.metrics = list(value or [])
        return self

    def getBatchSize(self) -> int:
        return self.batch_size

    def setBatchSize(self, value: Any) -> "SparkEstimator":
        self.batch_size = whole_number(value, "batch_size")
        return self

    def getCustomObjects(self) -> dict[str, Any]:
        return self.custom_objects or {}

    def setCustomObjects(self, value: Any) -> "SparkEstimator":
        self.custom_objects = value
        return self

    def getCallbacks(self) -> list[Any]:
        return self.callbacks

    def setCallbacks(self, value: Any) -> "SparkEstimator":
        self.callbacks = _check_callbacks(value)
        return self

    def getTransformationFn(self) -> Any:
        return self.transformation_fn

    def setTransformationFn(self, value: Any) -> "SparkEstimator":
        self._transform_bytes = check_transformation_fn(value)
        self.transformation_fn = value
        return self

    def getSampleWeightCol(self) -> Optional[str]:
        return self.sample_weight_col

    def setSampleWeightCol(self, value: Optional[str]) -> "SparkEstimator":
        self.sample_weight_col = _check_weight_col(value)
        return self

    def getFeatureCols(self) -> Any:
        return self.feature_columns

    def setFeatureCols(self, value: Any) -> "SparkEstimator":
        self.feature_columns = list(value) if value is not None else None
        return self

    def getLabelCols(self) -> Any:
        return self.label_columns

    def setLabelCols(self, value: Any) -> "SparkEstimator":
        self.label_columns = list(value) if value is not None else None
        return self
