"""Spark column types -> numeric Parquet columns, and the checks that run before any training.

Every check here runs on the Spark side (aggregates, never ``collect()`` of the data) and
raises a ``ValueError``/``TypeError`` that names the column and what was expected.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

from cerebro.data.metadata import ARRAY, SCALAR, ColumnInfo


def _is_vector_type(dtype) -> bool:
    name = type(dtype).__name__
    return name == "VectorUDT"


def _is_numeric(dtype) -> bool:
    from pyspark.sql import types as T

    return isinstance(dtype, (T.NumericType, T.BooleanType))


def column_kind(name: str, dtype, role: str) -> str:
    """Classifies a Spark column as ``scalar`` or ``array``, or raises ``TypeError``.

    Args:
        name: Column name (for the message).
        dtype: Its Spark ``DataType``.
        role: ``"feature"`` or ``"label"`` (for the message).
    """
    from pyspark.sql import types as T

    if _is_vector_type(dtype):
        return ARRAY
    if isinstance(dtype, T.ArrayType) and _is_numeric(dtype.elementType):
        return ARRAY
    if _is_numeric(dtype):
        return SCALAR
    raise TypeError(
        f"{role} column {name!r} has Spark type {dtype.simpleString()}; expected a numeric "
        "scalar, an array of numbers, or a Spark ML vector (dense or sparse)"
    )


def numeric_expr(name: str, dtype):
    """Returns a Spark column expression that turns ``name`` into float32 / array<float>."""
    from pyspark.sql import functions as F

    col = F.col(f"`{name}`")
    if _is_vector_type(dtype):
        from pyspark.ml.functions import vector_to_array

        return vector_to_array(col, "float32").alias(name)
    if column_kind(name, dtype, "feature") == ARRAY:
        return col.cast("array<float>").alias(name)
    return col.cast("float").alias(name)


def check_columns_exist(df, columns: Iterable[str], role: str) -> None:
    """Raises ``ValueError`` naming any of ``columns`` missing from ``df``."""
    present = set(df.columns)
    missing = [c for c in columns if c not in present]
    if missing:
        raise ValueError(
            f"{role} column(s) {missing} not found in the DataFrame; its columns are {df.columns}"
        )


def inspect_columns(
    df, feature_columns: Sequence[str], label_columns: Sequence[str]
) -> tuple[int, dict[str, ColumnInfo]]:
    """Checks types, nulls and vector lengths in ONE Spark aggregation; returns (rows, columns).

    Raises:
        ValueError: a column is missing, the DataFrame is empty, a label is null, or an
            array/vector column has rows of different lengths.
        TypeError: a column is not numeric.
    """
    found = inspect_dataframe(df, feature_columns, label_columns)
    return found.rows, found.columns


@dataclasses.dataclass(frozen=True)
class Inspection:
    """What one pass over a DataFrame found.

    Attributes:
        rows: Its row count.
        columns: Each checked column's kind and per-row length.
        classes: For each scalar column of ``class_columns``: its sorted distinct values
            (at most ``max_classes + 1`` of them are kept).
    """

    rows: int
    columns: dict[str, ColumnInfo]
    classes: dict[str, tuple]


def inspect_dataframe(
    df, feature_columns: Sequence[str], label_columns: Sequence[str],
    class_columns: Sequence[str] = (), max_classes: int = 10_000,
) -> Inspection:
    """``inspect_columns``, plus the distinct values of the class label columns, in ONE job.

    Args:
        df: The Spark DataFrame.
        feature_columns: Feature columns (numeric scalars, numeric arrays or ML vectors).
        label_columns: Label columns (the same types).
        class_columns: Label columns holding class labels: a scalar one may also be a string
            column, and its distinct values are collected.
        max_classes: More distinct values than this in a class column are not all returned.

    Raises:
        ValueError: a column is missing, the DataFrame is empty, a label is null, or an
            array/vector column has rows of different lengths.
        TypeError: a column is not numeric (nor a string class label).
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if not feature_columns:
        raise ValueError("feature_columns is empty; name at least one feature column")
    if not label_columns:
        raise ValueError("label_columns is empty; name at least one label column")
    check_columns_exist(df, feature_columns, "feature")
    check_columns_exist(df, label_columns, "label")
    types = dict((f.name, f.dataType) for f in df.schema.fields)
    kinds = {}
    for role, cols in (("feature", feature_columns), ("label", label_columns)):
        for c in cols:
            if c in class_columns and isinstance(types[c], T.StringType):
                kinds[c] = SCALAR
            else:
                kinds[c] = column_kind(c, types[c], role)
    distinct = [c for c in class_columns if kinds.get(c) == SCALAR]

    aggs = [F.count(F.lit(1)).alias("__rows")]
    for c in kinds:
        aggs.append(F.sum(F.col(f"`{c}`").isNull().cast("long")).alias(f"{c}__nulls"))
        if kinds[c] == ARRAY:
            size = F.size(numeric_expr(c, types[c]))
            aggs.append(F.min(size).alias(f"{c}__min"))
            aggs.append(F.max(size).alias(f"{c}__max"))
    for c in distinct:
        aggs.append(F.slice(F.collect_set(F.col(f"`{c}`")), 1, max_classes + 1)
                    .alias(f"{c}__classes"))
    row = df.agg(*aggs).first()
    rows = int(row["__rows"])
    if rows == 0:
        raise ValueError("the DataFrame is empty: there is nothing to train on")

    out: dict[str, ColumnInfo] = {}
    for c, kind in kinds.items():
        nulls = int(row[f"{c}__nulls"] or 0)
        role = "label" if c in label_columns else "feature"
        if nulls:
            raise ValueError(f"{role} column {c!r} has {nulls} null value(s) in {rows} rows")
        length = 1
        if kind == ARRAY:
            lo, hi = int(row[f"{c}__min"]), int(row[f"{c}__max"])
            if lo != hi:
                raise ValueError(
                    f"{role} column {c!r} holds vectors of different lengths ({lo} to {hi}); "
                    "every row must have the same length"
                )
            if lo == 0:
                raise ValueError(f"{role} column {c!r} holds empty vectors")
            length = lo
        out[c] = ColumnInfo(name=c, kind=kind, length=length, source_type=types[c].simpleString())
    classes = {c: tuple(sorted(row[f"{c}__classes"])) for c in distinct}
    return Inspection(rows, out, classes)


def check_input_shape(column: ColumnInfo, shape: Sequence[int] | None) -> tuple[int, ...]:
    """Checks that ``shape`` fits the column's length; returns the per-row shape to use.

    Raises:
        ValueError: the product of ``shape`` differs from the column's length.
    """
    if shape is None:
        return (column.length,) if column.kind == ARRAY else (1,)
    shape = tuple(int(s) for s in shape)
    if any(s <= 0 for s in shape):
        raise ValueError(f"input_shape {shape} for column {column.name!r} has a non-positive size")
    n = 1
    for s in shape:
        n *= s
    if n != column.length:
        raise ValueError(
            f"input_shape {shape} holds {n} values per row, but column {column.name!r} has "
            f"{column.length} value(s) per row"
        )
    return shape
