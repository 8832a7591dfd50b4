"""Distributed inference: a trained model scores a Spark DataFrame with ``mapInPandas``.

The model travels once per executor process as a broadcast variable and is built once per
Python worker process; the DataFrame never goes through the driver.
"""

from __future__ import annotations

import hashlib
import os
from typing import Optional, Sequence

import numpy as np

from cerebro.data.columns import check_columns_exist, column_kind, numeric_expr

_MODELS: dict[str, object] = {}


def _load(key: str, spec: bytes, state: Optional[bytes], custom_objects):
    if key not in _MODELS:
        from cerebro.keras import state as state_mod

        model = state_mod.model_from_bytes(spec, custom_objects, compile=False)
        if state is not None:
            st = state_mod.state_from_bytes(state)
            for var, value in zip(model.weights, st["weights"]):
                var.assign(value)
        _MODELS.clear()  # one model per Python worker at a time keeps memory flat
        _MODELS[key] = model
    return _MODELS[key]


def _limit_threads(n: int, keras_backend: str) -> None:
    """One Spark task, ``spark.task.cpus`` threads: torch's default (one per core) in every
    concurrent task oversubscribes the executor and spins, many times slower."""
    if keras_backend == "torch":
        import torch

        if torch.get_num_threads() != n:
            torch.set_num_threads(n)


def _column_array(series, shape: Sequence[int]) -> np.ndarray:
    first = series.iloc[0] if len(series) else None
    if first is not None and hasattr(first, "__len__"):
        a = np.stack(series.to_numpy()).astype(np.float32, copy=False)
    else:
        a = series.to_numpy(dtype=np.float32)
    return a.reshape((len(series),) + tuple(shape))


def transform(df, spec: bytes, state: Optional[bytes], feature_columns: Sequence[str],
              input_shapes: Sequence[tuple[int, ...]], output_names: Sequence[str],
              batch_size: int = 256, custom_objects: Optional[dict] = None,
              keras_backend: Optional[str] = None):
    """Returns ``df`` plus one ``array<float>`` column per model output."""
    from pyspark.sql import types as T

    check_columns_exist(df, feature_columns, "feature")
    types = dict((f.name, f.dataType) for f in df.schema.fields)
    for c in feature_columns:
        column_kind(c, types[c], "feature")
    key = hashlib.sha1(spec + (state or b"")).hexdigest()
    sc = df.sparkSession.sparkContext
    b_spec, b_state = sc.broadcast(spec), sc.broadcast(state)
    backend = keras_backend or os.environ.get("KERAS_BACKEND", "torch")
    threads = int(sc.getConf().get("spark.task.cpus", "1"))
    feats = list(feature_columns)
    shapes = [tuple(s) for s in input_shapes]
    outs = list(output_names)
    tmp = [f"__cerebro_in_{i}" for i in range(len(feats))]
    converted = df.select("*", *[numeric_expr(c, types[c]).alias(t) for c, t in zip(feats, tmp)])
    schema = T.StructType(
        [f for f in df.schema.fields]
        + [T.StructField(o, T.ArrayType(T.FloatType()), False) for o in outs])

    def predict(batches):
        os.environ.setdefault("KERAS_BACKEND", backend)
        _limit_threads(threads, backend)
        model = _load(key, b_spec.value, b_state.value, custom_objects)
        for pdf in batches:
            if len(pdf) == 0:
                continue
            xs = [_column_array(pdf[t], s) for t, s in zip(tmp, shapes)]
            preds = model.predict(xs[0] if len(xs) == 1 else xs, batch_size=batch_size, verbose=0)
            preds = preds if isinstance(preds, (list, tuple)) else [preds]
            if isinstance(preds, dict):
                preds = list(preds.values())
            out = pdf.drop(columns=tmp)
            for name, p in zip(outs, preds):
                p = np.asarray(p, np.float32).reshape(len(pdf), -1)
                out[name] = list(p)
            yield out

    return converted.mapInPandas(predict, schema)
