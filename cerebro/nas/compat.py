"""What ``HyperHyperModel`` accepts for the seed's fork (jiange91/cerebro-system) and for
AutoKeras habits: the fork's tuner names, pandas DataFrames, numpy ``evaluate(x, y)``,
``sys_setup``'s return shape, and the checks of ``evaluation_metric``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import numpy as np

if TYPE_CHECKING:
    from cerebro.nas.fitted import FittedSearch

# The fork's (and AutoKeras's / KerasTuner's class-style) spellings -> our tuner names.
TUNER_ALIASES = {
    "randomsearch": "random", "random_search": "random",
    "gridsearch": "grid", "grid_search": "grid",
    "greedysearch": "greedy", "greedy_search": "greedy",
    "bayesianoptimization": "bayesian", "bayesian_optimization": "bayesian",
    "hyperbandsearch": "hyperband",
}


def canonical_tuner(tuner: Any) -> Any:
    """A tuner name in our spelling (the fork's ``"randomsearch"`` is ``"random"``)."""
    if isinstance(tuner, str):
        key = tuner.strip().lower()
        return TUNER_ALIASES.get(key, key)
    return tuner


def as_spark_df(df: Any, what: str = "df") -> Any:
    """A Spark DataFrame for ``df``; a pandas one is converted by the active SparkSession.

    Raises:
        TypeError: ``df`` is neither, or there is no active SparkSession to convert with.
    """
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    if isinstance(df, DataFrame):
        return df
    if isinstance(df, pd.DataFrame):
        spark = SparkSession.getActiveSession()
        if spark is None:
            raise TypeError(f"{what} is a pandas DataFrame and there is no active SparkSession "
                            "to convert it; start one (SparkSession.builder.getOrCreate()) or "
                            f"pass spark.createDataFrame({what})")
        if type(spark).__module__.startswith("pyspark.sql.connect."):
            df = _vectors_as_lists(df)
        return spark.createDataFrame(df)
    raise TypeError(f"{what} must be a Spark DataFrame (or a pandas one), got "
                    f"{type(df).__name__}")


def _vectors_as_lists(df: Any) -> Any:
    """``df`` with its ML-vector columns as lists of floats: Spark Connect converts pandas
    through Arrow, which knows no vector type (arrays feed the models the same way)."""
    from pyspark.ml.linalg import Vector

    out = df
    for c in df.columns:
        cells = df[c].dropna()
        if len(cells) and isinstance(cells.iloc[0], Vector):
            out = out.copy() if out is df else out
            out[c] = [v.toArray().tolist() if isinstance(v, Vector) else v for v in df[c]]
    return out


def check_evaluation_metric(metric: Any, heads: Any) -> None:
    """Refuses an ``evaluation_metric`` the graph's models will not report, listing those
    they do (the result ranks by ``val_<metric>``)."""
    from cerebro.nas.search import expected_metrics

    names = [n for n in expected_metrics(heads) if not n.startswith("val_")]
    if not isinstance(metric, str):
        raise TypeError(f"evaluation_metric must be a metric name (str), got "
                        f"{type(metric).__name__}")
    if metric in names:
        return
    hint = ""
    if metric.startswith("val_") and metric[len("val_"):] in names:
        hint = f" (without 'val_': the result ranks by val_<metric>, write {metric[4:]!r})"
    raise ValueError(f"evaluation_metric {metric!r} is not a metric this graph reports{hint}; "
                     f"choose one of {names}")


def _label_array(target: Any, y: Any) -> np.ndarray:
    """Labels as the trained model reads them (class index -> its encoding)."""
    y = np.asarray(y)
    if target.head != "classification" or target.classes is None:
        return np.asarray(y, np.float32).reshape((len(y),) + tuple(target.shape))
    if y.ndim == 2 and y.shape[1] == len(target.classes) and len(target.classes) > 1:
        idx = y.argmax(axis=1)  # already one-hot
    else:
        flat = y.reshape(-1)
        index = {c: i for i, c in enumerate(target.classes)}
        try:
            idx = np.array([index[v.item() if hasattr(v, "item") else v] for v in flat])
        except KeyError as e:
            raise ValueError(f"label {e.args[0]!r} of {target.source_column!r} is not one of "
                             f"the classes the search trained on {list(target.classes)}") from None
    enc = target.encoding or {}
    if enc.get("type") == "onehot":
        return np.asarray(np.eye(enc["num_classes"], dtype=np.float32)[idx])
    return np.asarray(idx.astype(np.float32).reshape(-1, 1))


def evaluate_numpy(fitted: FittedSearch, x: Any, y: Any, batch_size: int,
                   verbose: int) -> dict[str, float]:
    """The best model's metrics on numpy ``x`` / ``y`` (computed here, not on Spark)."""
    from cerebro.nas import predict as predict_mod

    specs = fitted.input_specs()
    targets = fitted.targets
    xs = x if isinstance(x, (list, tuple)) and len(specs) > 1 else [x]
    ys = y if isinstance(y, (list, tuple)) and len(targets) > 1 else [y]
    if len(xs) != len(specs) or len(ys) != len(targets):
        raise ValueError(f"the model has {len(specs)} input(s) and {len(targets)} output(s); "
                         f"got {len(xs)} x and {len(ys)} y array(s)")
    arrays = [predict_mod._numpy_input(s, a) for s, a in zip(specs, xs)]
    labels = [_label_array(t, a) for t, a in zip(targets, ys)]
    if any(len(a) != len(arrays[0]) for a in arrays + labels):
        raise ValueError(f"x and y have different numbers of rows: "
                         f"{[len(a) for a in arrays]} vs {[len(a) for a in labels]}")
    model = fitted.result.get_best_model().keras()
    out = model.evaluate(arrays[0] if len(arrays) == 1 else arrays,
                         labels[0] if len(labels) == 1 else labels,
                         batch_size=batch_size, verbose=verbose, return_dict=True)
    return {k: float(v) for k, v in out.items()}


def sys_setup_tuple(store: Any, info: Any) -> tuple[int, int, Any, Optional[float]]:
    """``sys_setup``'s return in the fork's shape: ``(train_rows, val_rows, metadata,
    avg_row_size)``; ``metadata`` is the prepared ``DatasetInfo``, ``avg_row_size`` the
    mean bytes of a stored row (``None`` if the store cannot tell)."""
    rows = info.train.total_rows + info.val.total_rows
    try:
        size = sum(store.size(key) for split in (info.train, info.val)
                   for shard in split.shards for key in shard)
        avg: Optional[float] = size / rows if rows else None
    except Exception:  # noqa: BLE001 - the size is only informative
        avg = None
    return info.train.total_rows, info.val.total_rows, info, avg
