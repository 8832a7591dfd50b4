"""Prediction and evaluation with the best trial, on Spark DataFrames (distributed) or numpy."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from cerebro.keras.runtime import _encode_labels
from cerebro.nas import analysis


def _decode(target, probs: np.ndarray) -> np.ndarray:
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


def _prepare_df(fitted, df):
    from cerebro.nas.dataprep import stack_columns

    return stack_columns(df, fitted["groups"])


def predict(fitted: dict, x: Any, batch_size: int = 256):
    best = fitted["result"].get_best_model()
    targets = fitted["targets"]
    if isinstance(x, (np.ndarray, list, tuple, dict)):
        xs = x if isinstance(x, (list, tuple)) else [x]
        if isinstance(x, dict):
            xs = [x[c] for c in fitted["feature_columns"]]
        xs = [np.asarray(a, np.float32).reshape((len(a),) + tuple(s))
              for a, s in zip(xs, fitted["shapes"])]
        preds = best.keras().predict(xs[0] if len(xs) == 1 else xs, batch_size=batch_size, verbose=0)
        preds = preds if isinstance(preds, (list, tuple)) else [preds]
        out = [_decode(t, np.asarray(p)) for t, p in zip(targets, preds)]
        return out[0] if len(out) == 1 else out
    return _predict_df(fitted, best, _prepare_df(fitted, x), batch_size)


def _predict_df(fitted, best, df, batch_size):
    from pyspark.sql import functions as F

    out = best.transform(df, batch_size=batch_size)
    for t in fitted["targets"]:
        if t.head != "classification":
            continue
        pred = F.col(f"`{t.source_column}__pred`")
        if t.shape[-1] == 1:  # a one-value output is a double column
            idx = (pred > F.lit(0.5)).cast("int")
        else:
            idx = (F.expr(f"array_position(`{t.source_column}__pred`, "
                          f"array_max(`{t.source_column}__pred`))") - 1).cast("int")
        if t.classes is not None:
            lookup = F.array(*[F.lit(c) for c in t.classes])
            out = out.withColumn(f"{t.source_column}__class", F.element_at(lookup, idx + 1))
        else:
            out = out.withColumn(f"{t.source_column}__class", idx)
    return out


def evaluate(fitted: dict, df, batch_size: int = 256) -> dict[str, float]:
    """Sample-weighted mean of per-partition ``model.evaluate`` results (exact for means)."""
    import os

    from pyspark.sql import types as T

    from cerebro.data.columns import check_columns_exist, numeric_expr
    from cerebro.keras.inference import _column_array

    best = fitted["result"].get_best_model()
    targets = fitted["targets"]
    check_columns_exist(df, [t.source_column for t in targets], "label")
    df = _prepare_df(fitted, analysis.add_class_index_columns(df, targets))
    feats, labels = fitted["feature_columns"], [t.column for t in targets]
    types = dict((f.name, f.dataType) for f in df.schema.fields)
    cols = [numeric_expr(c, types[c]).alias(f"__c{i}") for i, c in enumerate(feats + labels)]
    conv = df.select(*cols)
    sc = df.sparkSession.sparkContext
    b_spec, b_state = sc.broadcast(best.spec_bytes), sc.broadcast(best.state_bytes)
    shapes, nf = fitted["shapes"], len(feats)
    encs = [t.encoding for t in targets]
    tshapes = [t.shape for t in targets]
    backend = os.environ.get("KERAS_BACKEND", "torch")

    def run(batches):
        import pandas as pd

        os.environ.setdefault("KERAS_BACKEND", backend)
        model = None
        for pdf in batches:
            if len(pdf) == 0:
                continue
            if model is None:
                from cerebro.keras import state as state_mod

                model = state_mod.model_from_bytes(b_spec.value)
                state_mod.set_state(model, state_mod.state_from_bytes(b_state.value))
            xs = [_column_array(pdf[f"__c{i}"], s) for i, s in enumerate(shapes)]
            ys = []
            for j, (enc, s) in enumerate(zip(encs, tshapes)):
                y = _column_array(pdf[f"__c{nf + j}"], (-1,) if enc else s)
                ys.append(_encode_labels(y, enc) if enc else y)
            m = model.evaluate(xs[0] if len(xs) == 1 else xs, ys[0] if len(ys) == 1 else ys,
                               batch_size=batch_size, verbose=0, return_dict=True)
            yield pd.DataFrame(
                {"metrics": [json.dumps({k: float(v) for k, v in m.items()})], "n": [len(pdf)]})

    schema = T.StructType([T.StructField("metrics", T.StringType()), T.StructField("n", T.LongType())])
    rows = conv.mapInPandas(run, schema).collect()
    if not rows:
        raise ValueError("evaluate() got an empty DataFrame")
    total = sum(r["n"] for r in rows)
    out: dict[str, float] = {}
    for r in rows:
        for k, v in json.loads(r["metrics"]).items():
            out[k] = out.get(k, 0.0) + v * r["n"] / total
    return out
