"""Distributed inference: the one Spark path of ``SparkModel.transform``, NAS ``predict`` and
``evaluate``.

The model travels once per executor as a broadcast variable (on Spark Connect, which has
none, inside the task's function) and is built once per Python worker process; the
DataFrame never goes through the driver. Every task limits its
framework to ``spark.task.cpus`` threads. Inputs are decoded per chunk of rows, as the
workers decode them in training: numbers to float32, JPEG/PNG bytes and Spark image structs
to ``(h, w, c)`` pixels (``cerebro.data.images``), text to the int32 ids of the search's
``TextEncoding``. Models with several outputs, as a list or a dict, give one column each.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from cerebro.data.columns import check_columns_exist, column_kind, is_image_struct, numeric_expr

NUMERIC, IMAGE, TEXT = "numeric", "image", "text"
CHUNK_BYTES = 64 << 20  # decoded input held at once per task
_MODELS: dict[str, object] = {}


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """How one model input is read from a DataFrame column.

    Attributes:
        column: The DataFrame column.
        shape: The model input's per-row shape.
        kind: ``"numeric"``, ``"image"`` (JPEG/PNG bytes or a Spark image struct, decoded
            to ``shape``) or ``"text"`` (strings, tokenized with ``text``).
        text: The ``TextEncoding`` (as JSON) of a text input.
    """

    column: str
    shape: tuple[int, ...]
    kind: str = NUMERIC
    text: Optional[dict[str, Any]] = None


def input_specs(df: Any, feature_columns: Sequence[str], input_shapes: Sequence[Sequence[int]],
                inputs: Optional[Sequence[InputSpec]] = None) -> list[InputSpec]:
    """The inputs' specs: ``inputs`` if given, else numeric or image by the column's type.

    Raises:
        ValueError: a column is missing, or an image input's shape is not (h, w, c).
        TypeError: a column's type cannot feed a model input.
    """
    if inputs is not None:
        specs = list(inputs)
    else:
        specs = [InputSpec(c, tuple(int(v) for v in s))
                 for c, s in zip(feature_columns, input_shapes)]
    check_columns_exist(df, [s.column for s in specs], "feature")
    types = dict((f.name, f.dataType) for f in df.schema.fields)
    out = []
    for spec in specs:
        if spec.kind == TEXT:
            from pyspark.sql import types as T

            if not isinstance(types[spec.column], T.StringType):
                raise TypeError(f"text column {spec.column!r} has Spark type "
                                f"{types[spec.column].simpleString()}; expected strings")
            out.append(spec)
            continue
        kind = column_kind(spec.column, types[spec.column], "feature")
        if kind == "image":
            if len(spec.shape) != 3:
                raise ValueError(f"image column {spec.column!r} feeds an input of shape "
                                 f"{spec.shape}; expected (height, width, channels)")
            spec = dataclasses.replace(spec, kind=IMAGE)
        out.append(spec)
    return out


def _spark_inputs(df: Any, specs: Sequence[InputSpec]) -> Any:
    """``df`` plus one temporary column (or a few, for image structs) per input."""
    from pyspark.sql import functions as F

    from cerebro.data.text import TextEncoding

    types = dict((f.name, f.dataType) for f in df.schema.fields)
    extra = []
    for i, s in enumerate(specs):
        tmp = f"__cerebro_in_{i}"
        if s.kind == TEXT:
            df = TextEncoding.from_json(s.text or {}).tokenize(df, s.column, tmp)
        elif s.kind == IMAGE and is_image_struct(types[s.column]):
            col = F.col(f"`{s.column}`")
            extra += [col.height.alias(tmp + "_h"), col.width.alias(tmp + "_w"),
                      col.nChannels.alias(tmp + "_c"), col.data.alias(tmp)]
        elif s.kind == IMAGE:
            extra.append(F.col(f"`{s.column}`").alias(tmp))
        else:
            extra.append(numeric_expr(s.column, types[s.column]).alias(tmp))
    return df.select("*", *extra) if extra else df


def _struct_images(pdf: Any, tmp: str, shape: Any) -> np.ndarray:
    from cerebro.data import images

    h, w, c = shape
    out = np.empty((len(pdf), h, w, c), np.uint8)
    for i, (hh, ww, cc, data) in enumerate(zip(pdf[tmp + "_h"], pdf[tmp + "_w"],
                                               pdf[tmp + "_c"], pdf[tmp])):
        out[i] = images.from_pixels(images.struct_to_pixels(int(hh), int(ww), int(cc), data),
                                    shape)
    return out


def batch_arrays(pdf: Any, specs: Sequence[InputSpec]) -> list[np.ndarray]:
    """The model inputs of one pandas chunk (with ``_spark_inputs``' temporary columns)."""
    from cerebro.data import images
    from cerebro.data.text import TextEncoding

    xs = []
    for i, s in enumerate(specs):
        tmp = f"__cerebro_in_{i}"
        if s.kind == TEXT:
            xs.append(TextEncoding.from_json(s.text or {}).ids(pdf[tmp]))
        elif s.kind == IMAGE and tmp + "_h" in pdf:
            xs.append(_struct_images(pdf, tmp, s.shape).astype(np.float32))
        elif s.kind == IMAGE:
            xs.append(images.decode_batch(list(pdf[tmp]), s.shape)[0].astype(np.float32))
        else:
            xs.append(_column_array(pdf[tmp], s.shape))
    return xs


def _column_array(series: Any, shape: Sequence[int]) -> np.ndarray:
    first = series.iloc[0] if len(series) else None
    if first is not None and hasattr(first, "__len__"):
        a = np.stack(series.to_numpy()).astype(np.float32, copy=False)
    else:
        a = series.to_numpy(dtype=np.float32)
    return a.reshape((len(series),) + tuple(shape))


def _temp_columns(pdf: Any) -> list[str]:
    return [c for c in pdf.columns if c.startswith("__cerebro_in_")]


def _chunk_rows(specs: Sequence[InputSpec], batch_size: int) -> int:
    per_row = sum(4 * int(np.prod(s.shape)) for s in specs) or 4
    return max(batch_size, CHUNK_BYTES // per_row)


def _chunks(batches: Any, rows: int) -> Iterator[Any]:
    for pdf in batches:
        for start in range(0, len(pdf), rows):
            yield pdf.iloc[start:start + rows]


def limit_threads(n: int, keras_backend: str) -> None:
    """One Spark task, ``spark.task.cpus`` threads: torch's default (one per core) in every
    concurrent task oversubscribes the executor and spins, many times slower."""
    if keras_backend == "torch":
        import torch

        if torch.get_num_threads() != n:
            torch.set_num_threads(n)


def _load(key: str, spec: bytes, state: Optional[bytes], custom_objects: Any, compile: bool) -> Any:
    if key not in _MODELS:
        from cerebro.keras import state as state_mod

        model = state_mod.model_from_bytes(spec, custom_objects, compile=compile)
        if state is not None:
            weights = state_mod.state_from_bytes(state)["weights"]
            for var, value in zip(model.weights, weights):
                var.assign(value)
        _MODELS.clear()  # one model per Python worker at a time keeps memory flat
        _MODELS[key] = model
    return _MODELS[key]


def as_output_list(preds: Any, model: Any) -> list[np.ndarray]:
    """A model's predictions as a list in output order (dict outputs: the model's key order)."""
    if isinstance(preds, dict):
        structure = getattr(model, "output", None)
        keys = list(structure) if isinstance(structure, dict) else list(preds)
        return [np.asarray(preds[k]) for k in keys]
    if isinstance(preds, (list, tuple)):
        return [np.asarray(p) for p in preds]
    return [np.asarray(preds)]


def as_targets(ys: list[np.ndarray], model: Any) -> Any:
    """Labels in the model's output structure: one array, a list, or a dict keyed like the
    model's dict outputs (in their order: Keras would flatten a list in sorted-key order)."""
    structure = getattr(model, "output", None)
    if isinstance(structure, dict):
        return dict(zip(list(structure), ys))
    return ys[0] if len(ys) == 1 else ys


@dataclasses.dataclass(frozen=True)
class _Inline:
    """The model's bytes shipped in the task's function, where there is no broadcast (Spark
    Connect): the same ``value`` attribute as a broadcast variable."""

    value: Any


def _is_connect(df: Any) -> bool:
    """Whether ``df`` belongs to a Spark Connect session (no ``SparkContext``)."""
    return type(df).__module__.startswith("pyspark.sql.connect.")


@dataclasses.dataclass
class _Job:
    """What every task of one inference job needs (small: the model goes by broadcast)."""

    key: str
    spec: Any
    state: Any
    custom_objects: Optional[dict[str, Any]]
    backend: str
    threads: int
    specs: list[InputSpec]
    batch_size: int
    compile: bool

    def model(self) -> Any:
        os.environ.setdefault("KERAS_BACKEND", self.backend)
        limit_threads(self.threads, self.backend)
        return _load(self.key, self.spec.value, self.state.value, self.custom_objects,
                     self.compile)

    def x(self, pdf: Any) -> Any:
        xs = batch_arrays(pdf, self.specs)
        return xs[0] if len(xs) == 1 else xs


def _job(df: Any, spec: bytes, state: Optional[bytes], specs: Any, batch_size: Any,
         custom_objects: Any, keras_backend: Any, compile: bool) -> _Job:
    key = hashlib.sha1(spec + (state or b"") + bytes([compile])).hexdigest()
    if _is_connect(df):
        ship: Any = _Inline
        threads = int(df.sparkSession.conf.get("spark.task.cpus", "1") or "1")
    else:
        sc = df.sparkSession.sparkContext
        ship, threads = sc.broadcast, int(sc.getConf().get("spark.task.cpus", "1"))
    return _Job(key, ship(spec), ship(state), custom_objects,
                keras_backend or os.environ.get("KERAS_BACKEND", "torch"), threads,
                list(specs), batch_size, compile)


def transform(df: Any, spec: bytes, state: Optional[bytes], feature_columns: Sequence[str],
              input_shapes: Sequence[tuple[int, ...]], output_names: Sequence[str],
              batch_size: int = 256, custom_objects: Optional[dict[str, Any]] = None,
              keras_backend: Optional[str] = None,
              inputs: Optional[Sequence[InputSpec]] = None) -> Any:
    """Returns ``df`` plus one ``array<float>`` column per model output.

    Args:
        inputs: How each input is read (text encodings); default: numeric or image columns
            ``feature_columns`` shaped ``input_shapes``.
    """
    from pyspark.sql import types as T

    specs = input_specs(df, feature_columns, input_shapes, inputs)
    job = _job(df, spec, state, specs, batch_size, custom_objects, keras_backend, False)
    outs = list(output_names)
    converted = _spark_inputs(df, specs)
    schema = T.StructType(
        list(df.schema.fields)
        + [T.StructField(o, T.ArrayType(T.FloatType()), False) for o in outs])
    rows = _chunk_rows(specs, batch_size)

    def predict(batches: Any) -> Any:
        model = job.model()
        for pdf in _chunks(batches, rows):
            if len(pdf) == 0:
                continue
            preds = as_output_list(model.predict(job.x(pdf), batch_size=job.batch_size,
                                                 verbose=0), model)
            out = pdf.drop(columns=_temp_columns(pdf))
            for name, p in zip(outs, preds):
                out[name] = list(np.asarray(p, np.float32).reshape(len(pdf), -1))
            yield out

    return converted.mapInPandas(predict, schema)


def evaluate(df: Any, spec: bytes, state: Optional[bytes], inputs: Sequence[InputSpec],
             label_columns: Sequence[str], label_shapes: Sequence[tuple[int, ...]],
             encodings: Sequence[Optional[dict[str, Any]]], batch_size: int = 256,
             custom_objects: Optional[dict[str, Any]] = None,
             keras_backend: Optional[str] = None,
             weight_column: Optional[str] = None) -> dict[str, float]:
    """The compiled model's metrics on ``df``, as a training epoch's validation computes them.

    Each chunk of rows is one ``model.evaluate``; the chunks' results are combined into
    exact means: by rows, or, for the metrics Keras weighs (``compile(weighted_metrics=...)``),
    by the sum of the sample weights. With ``weight_column``, each row's weight goes to Keras
    as ``sample_weight`` (the loss is then the sum of weight x loss over the rows).

    Raises:
        ValueError: a column is missing, ``df`` is empty, or a weight is null, NaN, infinite
            or negative.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    check_columns_exist(df, label_columns, "label")
    specs = input_specs(df, [s.column for s in inputs], [s.shape for s in inputs], inputs)
    job = _job(df, spec, state, specs, batch_size, custom_objects, keras_backend, True)
    types = dict((f.name, f.dataType) for f in df.schema.fields)
    extra = [numeric_expr(c, types[c]).alias(f"__cerebro_y_{j}")
             for j, c in enumerate(label_columns)]
    if weight_column is not None:
        _check_weights(df, weight_column, types)
        extra.append(numeric_expr(weight_column, types[weight_column]).alias("__cerebro_w"))
    with_inputs = _spark_inputs(df.select("*", *extra), specs)
    converted = with_inputs.select(*[c for c in with_inputs.columns if c.startswith(
        ("__cerebro_in_", "__cerebro_y_", "__cerebro_w"))])
    run = _evaluate_chunks(job, [tuple(s) for s in label_shapes], list(encodings),
                           _chunk_rows(specs, batch_size), weight_column is not None)
    schema = T.StructType([T.StructField("metrics", T.StringType()),
                           T.StructField("n", T.DoubleType()),
                           T.StructField("w", T.DoubleType())])
    rows_out = converted.mapInPandas(run, schema).agg(
        F.collect_list(F.struct("metrics", "n", "w")).alias("r")).first()["r"]
    if not rows_out:
        raise ValueError("evaluate() got an empty DataFrame")
    return _combine([(json.loads(r["metrics"]), r["n"], r["w"]) for r in rows_out])


def _check_weights(df: Any, column: str, types: dict[str, Any]) -> None:
    """One aggregation over the weight column: ``ValueError`` naming it for a bad weight."""
    from pyspark.sql import functions as F

    from cerebro.data.weights import check_weight_type, weight_aggregates, weight_info

    check_columns_exist(df, [column], "sample weight")
    check_weight_type(column, types[column])
    row = df.agg(*weight_aggregates(column), F.count(F.lit(1)).alias("__rows")).first()
    weight_info(column, types[column], row, row["__rows"], allow_zero=True)


def _evaluate_chunks(job: "_Job", shapes: list[tuple[int, ...]],
                     encs: list[Optional[dict[str, Any]]], rows: int, weighted: bool) -> Any:
    """The ``mapInPandas`` function: one row per chunk with its metrics (JSON, with the
    names of the weighted ones under ``"__weighted__"``), its rows and its sum of weights."""

    def run(batches: Any) -> Any:
        import pandas as pd

        from cerebro._upstream import weighted_metric_names
        from cerebro.keras.runtime import _encode_labels

        model = job.model()
        for pdf in _chunks(batches, rows):
            if len(pdf) == 0:
                continue
            ys = []
            for j, (enc, s) in enumerate(zip(encs, shapes)):
                y = _column_array(pdf[f"__cerebro_y_{j}"], (-1,) if enc else s)
                ys.append(_encode_labels(y, enc) if enc else y)
            w = pdf["__cerebro_w"].to_numpy(dtype="float32") if weighted else None
            m = model.evaluate(job.x(pdf), as_targets(ys, model), sample_weight=w,
                               batch_size=job.batch_size, verbose=0, return_dict=True)
            doc: dict[str, Any] = {k: float(v) for k, v in m.items()}
            doc["__weighted__"] = sorted(weighted_metric_names(model)) if weighted else []
            yield pd.DataFrame({"metrics": [json.dumps(doc)], "n": [float(len(pdf))],
                                "w": [float(w.sum(dtype="float64")) if w is not None
                                      else float(len(pdf))]})

    return run


def _combine(chunks: Sequence[tuple[dict[str, Any], float, float]]) -> dict[str, float]:
    """Exact means over the chunks: weighted metrics by their sum of weights, the rest (the
    loss included: Keras divides the weighted loss by the rows) by rows, as the engine
    combines an epoch's visits."""
    sums: dict[str, list[float]] = {}
    for metrics, n, w in chunks:
        weighted = set(metrics.pop("__weighted__", []))
        for k, v in metrics.items():
            by = w if k in weighted else n
            s = sums.setdefault(k, [0.0, 0.0])
            s[0] += v * by
            s[1] += by
    return {k: s / by if by else float("nan") for k, (s, by) in sums.items()}
