"""Prediction and evaluation with the best trial, on Spark DataFrames (distributed) or numpy.

The Spark side is ``cerebro.keras.inference`` (the one inference path); here the search's
inputs are read as in training (stacked scalar columns, image decoding, the text encoding)
and class indices are turned back into the original labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cerebro._logging import get_logger
from cerebro.keras import inference
from cerebro.nas import analysis
from cerebro.nas.fitted import FittedSearch

log = get_logger("nas")


def _decode(target: Any, probs: np.ndarray) -> np.ndarray:
    """Probabilities -> the original class labels (classification heads)."""
    if target.head != "classification":
        return probs
    if probs.shape[-1] == 1:
        idx = (probs.reshape(-1) > 0.5).astype(np.int64)
    else:
        idx = probs.argmax(axis=-1)
    if target.classes is None:
        return idx
    return np.asarray(target.classes, dtype=object)[idx]


def _prepare_df(fitted: FittedSearch, df: Any) -> Any:
    from cerebro.nas.dataprep import stack_columns

    return stack_columns(df, fitted.groups)


def _numpy_input(spec: inference.InputSpec, a: Any) -> np.ndarray:
    """One input given as numpy / a list: raw strings, encoded images, or numbers."""
    from cerebro.data import images
    from cerebro.data.text import TextEncoding

    if spec.kind == inference.TEXT:
        values = np.asarray(a, dtype=object).reshape(-1)
        if not all(v is None or isinstance(v, str) for v in values):
            raise TypeError(f"input {spec.column!r} is text: give strings, got "
                            f"{type(next(v for v in values if not isinstance(v, str))).__name__}")
        return TextEncoding.from_json(spec.text or {}).encode(values)
    seq = a if isinstance(a, (list, tuple)) else None
    if seq is not None and seq and isinstance(seq[0], (bytes, bytearray)):
        return images.decode_batch(seq, spec.shape)[0].astype(np.float32)
    arr = np.asarray(a)
    if arr.dtype == object and arr.size and isinstance(arr.reshape(-1)[0], (bytes, bytearray)):
        return images.decode_batch(list(arr.reshape(-1)), spec.shape)[0].astype(np.float32)
    return np.asarray(arr, np.float32).reshape((len(arr),) + tuple(spec.shape))


def predict(fitted: FittedSearch, x: Any, batch_size: int = 256) -> Any:
    best = fitted.result.get_best_model()
    targets = fitted.targets
    specs = fitted.input_specs()
    if isinstance(x, (np.ndarray, list, tuple, dict)):
        xs = x if isinstance(x, (list, tuple)) and len(specs) > 1 else [x]
        if isinstance(x, dict):
            xs = [x[c] for c in fitted.feature_columns]
        if len(xs) != len(specs):
            raise ValueError(f"the model has {len(specs)} input(s), {len(xs)} were given")
        arrays = [_numpy_input(s, a) for s, a in zip(specs, xs)]
        model = best.keras()
        preds = inference.as_output_list(
            model.predict(arrays[0] if len(arrays) == 1 else arrays, batch_size=batch_size,
                          verbose=0), model)
        out = [_decode(t, p) for t, p in zip(targets, preds)]
        return out[0] if len(out) == 1 else out
    return _predict_df(fitted, best, _prepare_df(fitted, x), specs, batch_size)


def _predict_df(fitted: FittedSearch, best: Any, df: Any, specs: Any, batch_size: Any) -> Any:
    from pyspark.sql import functions as F

    out = inference.transform(df, best.spec_bytes, best.state_bytes, best.feature_columns,
                              best.input_shapes, best.output_names, batch_size=batch_size,
                              custom_objects=best.custom_objects, inputs=specs)
    for t in fitted.targets:
        if t.head != "classification":
            continue
        pred = F.col(f"`{t.source_column}__pred`")
        if t.shape[-1] == 1:  # one sigmoid value per row (an array of one)
            idx = (F.element_at(pred, 1) > F.lit(0.5)).cast("int")
        else:
            idx = (F.expr(f"array_position(`{t.source_column}__pred`, "
                          f"array_max(`{t.source_column}__pred`))") - 1).cast("int")
        if t.classes is not None:
            lookup = F.array(*[F.lit(c) for c in t.classes])
            out = out.withColumn(f"{t.source_column}__class", F.element_at(lookup, idx + 1))
        else:
            out = out.withColumn(f"{t.source_column}__class", idx)
    return out


def evaluate(fitted: FittedSearch, df: Any, batch_size: int = 256) -> dict[str, float]:
    """The best model's metrics on ``df``, as its validation computed them.

    After a search with sample weights, rows are weighed by the same column when ``df`` has
    it (a warning says so when it does not: the metrics are then unweighted).
    """
    from cerebro.data.columns import check_columns_exist

    best = fitted.result.get_best_model()
    targets = fitted.targets
    check_columns_exist(df, [t.source_column for t in targets], "label")
    weight = fitted.weight_column
    if weight is not None and weight not in df.columns:
        log.warning("the search weighed rows by %r, which this DataFrame lacks: its metrics "
                    "are unweighted", weight)
        weight = None
    df = _prepare_df(fitted, analysis.add_class_index_columns(df, targets))
    return inference.evaluate(df, best.spec_bytes, best.state_bytes, fitted.input_specs(),
                              [t.column for t in targets], [t.shape for t in targets],
                              [t.encoding for t in targets], batch_size=batch_size,
                              custom_objects=best.custom_objects, weight_column=weight)


def export_preprocessing(fitted: FittedSearch) -> dict[str, Any]:
    """What to save beside an exported model: how raw inputs become what it reads.

    Returns a JSON-able document: ``dataset`` (the prepared dataset's fingerprint; its record
    is ``store.dataset_key(dataset)``) and, per model input, ``column``, ``shape``, ``kind``
    (``numeric``, ``image``: JPEG/PNG decoded and resized as ``cerebro.data.images`` says,
    or ``text``) and, for text, the ``TextEncoding`` (``cerebro.data.text.TextEncoding
    .from_json(doc).encode(strings)`` gives the model's int32 input).
    """
    return {"dataset": fitted.dataset,
            "inputs": [{"column": s.column, "shape": list(s.shape), "kind": s.kind,
                        "text": s.text} for s in fitted.input_specs()]}
