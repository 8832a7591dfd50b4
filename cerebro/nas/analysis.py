"""Configure an AutoKeras graph from a Spark DataFrame without collecting it.

- Classification labels: their distinct values come from the one Spark aggregate that also
  checks the columns (``cerebro.data.columns.inspect_dataframe``; at most ``MAX_CLASSES``);
  scalar labels (int, double or string) are encoded to a class index by a Spark expression,
  and the worker one-hot/binary-encodes that index.
- Input analysers and ``Normalization`` statistics see a bounded random sample of the
  prepared training data (``SAMPLE_ROWS`` rows, fewer for wide rows such as large images),
  read with pyarrow from randomly chosen row groups of the training shards (no Spark job);
  encoded images in it are decoded here, on the driver, with ``cerebro.data.images``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

import numpy as np

from cerebro.data.metadata import ARRAY, IMAGE, ColumnInfo

MAX_CLASSES = 10_000
SAMPLE_ROWS = 2_000
SAMPLE_BYTES = 256 << 20  # the decoded sample, as float32, stays under this
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
    encoding: Optional[dict[str, Any]]
    shape: tuple[int, ...]

    def analyser_sample(self) -> np.ndarray:
        """A tiny array with which AutoKeras's analyser infers exactly this target."""
        k = self.shape[-1]
        if self.head == "classification":
            return np.array([[0.0], [1.0]], np.float32) if k == 1 else np.eye(k, dtype=np.float32)
        return np.zeros((2,) + self.shape, np.float32)


def classification_target(column: str, info: ColumnInfo,
                          classes: Optional[Sequence[Any]]) -> HeadTarget:
    """Decides the encoding of a classification label.

    Args:
        column: The label column.
        info: Its ``ColumnInfo``.
        classes: Its distinct values (``Inspection.classes``); unused for one-hot vectors.

    Raises:
        ValueError: the label has a single class, or more than ``MAX_CLASSES``.
    """
    if info.kind == ARRAY:
        if info.length < 2:
            raise ValueError(f"label column {column!r} holds 1-long vectors; one-hot labels need >= 2")
        return HeadTarget("classification", column, column, None, None, (info.length,))
    classes = sorted(classes or ())
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


def add_class_index_columns(df: Any, targets: Sequence[HeadTarget]) -> Any:
    """Adds ``<label>__class_index`` (0..k-1) for every encoded scalar classification label."""
    from pyspark.sql import functions as F

    for t in targets:
        if t.classes is not None:
            lookup = F.array(*[F.lit(c) for c in t.classes])
            df = df.withColumn(t.column, (F.array_position(lookup, F.col(t.source_column)) - 1)
                               .cast("int"))
    return df


def column_values(chunked: Any, info: ColumnInfo) -> np.ndarray:
    """A prepared column's values in their stored dtype: ``(rows,)``, ``(rows, length)``, or
    for images the decoded ``(rows, h, w, c)`` uint8 pixels.

    Raises:
        ValueError: an image does not decode (names the column).
    """
    import pyarrow as pa

    from cerebro.data import images

    arr = chunked.combine_chunks() if isinstance(chunked, pa.ChunkedArray) else chunked
    if info.kind == IMAGE:
        try:
            return images.decode_batch(arr.to_pylist(), info.image_shape or ())[0]
        except images.ImageDecodeError as e:
            raise ValueError(f"image column {info.name!r}: {e}; fix or drop that image "
                             "before fit()") from e
    dtype = np.dtype(info.dtype)
    if info.kind == ARRAY:
        values = arr.flatten().to_numpy(zero_copy_only=False).astype(dtype, copy=False)
        return np.asarray(values.reshape(len(arr), info.length))
    return np.asarray(arr.to_numpy(zero_copy_only=False).astype(dtype, copy=False))


def sample_rows(info: Any, columns: Sequence[str], rows: int = SAMPLE_ROWS) -> int:
    """``rows``, fewer for wide rows: the decoded sample stays under ``SAMPLE_BYTES``."""
    per_row = sum(4 * max(1, info.column(c).length) for c in columns)
    return int(max(1, min(rows, SAMPLE_BYTES // per_row)))


def bounded_sample(store: Any, info: Any, columns: Sequence[str], seed: int,
                   rows: int = SAMPLE_ROWS) -> dict[str, np.ndarray]:
    """A random sample of at most ``rows`` prepared training rows, in their stored dtypes
    (images decoded to uint8 pixels, so a corrupt one fails here, before any training).

    Row groups of the training shards are drawn at random until they hold ``2 * rows`` rows
    (or all are drawn); only those are read, only ``columns`` of them, and ``rows`` rows of
    them are kept at random. Driver memory is bounded by a few row groups, whatever the data.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = sample_rows(info, columns, rows)
    rng = np.random.default_rng(seed)
    fs = store.filesystem
    groups = []  # (file, row group, rows)
    files = {}
    for key in (k for shard in info.train.shards for k in shard):
        f = files[key] = pq.ParquetFile(store.fs_path(key), filesystem=fs)
        groups += [(key, g, f.metadata.row_group(g).num_rows) for g in range(f.num_row_groups)]
    tables, have = [], 0
    for i in rng.permutation(len(groups)):
        key, g, n = groups[i]
        if n:
            tables.append(files[key].read_row_group(g, columns=list(columns)))
            have += n
        if have >= 2 * rows:
            break
    for f in files.values():
        f.close()
    table = pa.concat_tables(tables) if tables else None
    if table is None or table.num_rows == 0:
        raise ValueError("the prepared training data has no rows to configure the graph from")
    keep = np.sort(rng.choice(table.num_rows, size=min(rows, table.num_rows), replace=False))
    table = table.take(pa.array(keep))
    return {c: column_values(table.column(c), info.column(c)) for c in columns}
