"""Configure an AutoKeras graph from a Spark DataFrame without collecting it.

- Classification labels: their distinct values come from one Spark aggregate (bounded:
  at most ``MAX_CLASSES``); scalar labels (int, double or string) are encoded to a class
  index by a Spark expression, and the worker one-hot/binary-encodes that index.
- Input analysers and ``Normalization`` statistics see a bounded random sample of the
  prepared training data (``SAMPLE_ROWS`` rows), drawn by Spark.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

import numpy as np

from cerebro.data.metadata import ARRAY, ColumnInfo

MAX_CLASSES = 10_000
SAMPLE_ROWS = 2_000
INDEX_SUFFIX = "__class_index"


@dataclasses.dataclass(frozen=True)
class HeadTarget:
    """How one head's label column is fed to the model.

    Attributes:
        head: ``"classification"`` or ``"regression"``.
        source_column: The user's label column.
        column: The prepared column (``<source>__class_index`` for encoded scalar labels).
        classes: Sorted distinct labels of a scalar classification label, else ``None``.
        encoding: Worker-side encoding of ``column`` (``{"type": "onehot"|"binary", ...}``).
        shape: Per-row target shape the head outputs.
    """

    head: str
    source_column: str
    column: str
    classes: Optional[tuple[Any, ...]]
    encoding: Optional[dict]
    shape: tuple[int, ...]

    def analyser_sample(self) -> np.ndarray:
        """A tiny array with which AutoKeras's analyser infers exactly this target."""
        k = self.shape[-1]
        if self.head == "classification":
            return np.array([[0.0], [1.0]], np.float32) if k == 1 else np.eye(k, dtype=np.float32)
        return np.zeros((2,) + self.shape, np.float32)


def classification_target(df, column: str, info: ColumnInfo) -> HeadTarget:
    """Decides the encoding of a classification label from Spark aggregates.

    Raises:
        ValueError: the label has a single class, or more than ``MAX_CLASSES``.
    """
    if info.kind == ARRAY:
        if info.length < 2:
            raise ValueError(f"label column {column!r} holds 1-long vectors; one-hot labels need >= 2")
        return HeadTarget("classification", column, column, None, None, (info.length,))
    rows = df.select(column).distinct().limit(MAX_CLASSES + 1).collect()
    classes = sorted(r[0] for r in rows)
    if len(classes) > MAX_CLASSES:
        raise ValueError(f"label column {column!r} has more than {MAX_CLASSES} distinct values; "
                         "is it really a classification label?")
    if len(classes) < 2:
        raise ValueError(
            f"label column {column!r} has a single class ({classes[0]!r}); classification "
            "needs at least 2 classes")
    k = len(classes)
    encoding = {"type": "binary"} if k == 2 else {"type": "onehot", "num_classes": k}
    return HeadTarget("classification", column, column + INDEX_SUFFIX, tuple(classes), encoding,
                      (1,) if k == 2 else (k,))


def regression_target(column: str, info: ColumnInfo) -> HeadTarget:
    return HeadTarget("regression", column, column, None, None, (info.length,))


def add_class_index_columns(df, targets: Sequence[HeadTarget]):
    """Adds ``<label>__class_index`` (0..k-1) for every encoded scalar classification label."""
    from pyspark.sql import functions as F

    for t in targets:
        if t.classes is not None:
            lookup = F.array(*[F.lit(c) for c in t.classes])
            df = df.withColumn(t.column, (F.array_position(lookup, F.col(t.source_column)) - 1)
                               .cast("int"))
    return df


def bounded_sample(spark, store, info, columns: Sequence[str], seed: int,
                   rows: int = SAMPLE_ROWS) -> dict[str, np.ndarray]:
    """A random sample of at most ``rows`` prepared training rows, as float32 arrays."""
    from cerebro.data.shard import _column_to_numpy
    import pyarrow as pa

    files = [store.uri(k) for shard in info.train.shards for k in shard]
    frac = min(1.0, 2.0 * rows / max(1, info.train.total_rows))
    pdf = (spark.read.parquet(*files).select(*columns)
           .sample(withReplacement=False, fraction=frac, seed=seed).limit(rows).toArrow())
    out = {}
    for c in columns:
        ci = info.column(c)
        col = pdf.column(c)
        out[c] = _column_to_numpy(col if isinstance(col, pa.ChunkedArray) else col, ci.kind, ci.length)
    return out
