"""Per-row sample weights (``sample_weight_col``): the checks of the inspection job.

A weight column must be numeric and hold, on every row, a finite weight >= 0 (not all 0).
``weight_aggregates`` adds its checks to the one aggregation ``inspect_dataframe`` runs;
``weight_info`` reads them back and raises a ``ValueError`` naming the column.
"""

from __future__ import annotations

from typing import Optional

from cerebro.data.metadata import SCALAR, ColumnInfo


def check_weight_column(df, types, weight_column: Optional[str], feature_columns,
                         label_columns) -> list[str]:
    """The weight column as a list (empty for none), after checking its name and type."""
    if weight_column is None:
        return []
    if not isinstance(weight_column, str):
        raise ValueError(f"sample_weight_col must be a column name (str), got {weight_column!r}")
    if weight_column not in df.columns:
        raise ValueError(f"sample weight column {weight_column!r} not found in the DataFrame; "
                         f"its columns are {df.columns}")
    if weight_column in list(feature_columns) + list(label_columns):
        raise ValueError(f"sample weight column {weight_column!r} is also a feature or label "
                         "column")
    check_weight_type(weight_column, types[weight_column])
    return [weight_column]


def weight_aggregates(c: str) -> list:
    """Nulls, non-finite values, the minimum and the sum of a sample-weight column."""
    from pyspark.sql import functions as F

    raw = F.col(f"`{c}`")
    col = raw.cast("double")
    bad = F.isnan(col) | (F.abs(col) == F.lit(float("inf")))
    return [F.sum(raw.isNull().cast("long")).alias(f"{c}__wnulls"),
            F.sum(bad.cast("long")).alias(f"{c}__wbad"),
            F.min(F.when(~bad, col)).alias(f"{c}__wmin"),
            F.sum(F.when(~bad, col)).alias(f"{c}__wsum")]


def check_weight_type(name: str, dtype) -> None:
    """Raises ``ValueError`` unless the sample-weight column ``name`` is a numeric scalar."""
    from pyspark.sql import types as T

    if not isinstance(dtype, (T.NumericType, T.BooleanType)):
        raise ValueError(
            f"sample weight column {name!r} has Spark type {dtype.simpleString()}; expected a "
            "numeric column (one non-negative, finite weight per row)")


def weight_info(c: str, dtype, row, rows: int, allow_zero: bool = False) -> ColumnInfo:
    """Checks what ``weight_aggregates`` found; returns the weight column's info.

    ``allow_zero``: every row may weigh 0 (evaluation: a weighted loss of 0), not training.
    """
    nulls, bad = int(row[f"{c}__wnulls"] or 0), int(row[f"{c}__wbad"] or 0)
    if nulls:
        raise ValueError(f"sample weight column {c!r} has {nulls} null value(s) in {rows} "
                         "rows; every row needs a weight (0 leaves a row out)")
    if bad:
        raise ValueError(f"sample weight column {c!r} has {bad} NaN or infinite value(s) in "
                         f"{rows} rows; weights must be finite")
    low, total = row[f"{c}__wmin"], row[f"{c}__wsum"]
    if low is not None and float(low) < 0:
        raise ValueError(f"sample weight column {c!r} has negative weights (the smallest is "
                         f"{float(low):g}); weights must be >= 0")
    if not allow_zero and (not total or float(total) <= 0):
        raise ValueError(f"sample weight column {c!r} weighs every row 0; at least one row "
                         "needs a positive weight")
    return ColumnInfo(name=c, kind=SCALAR, length=1, source_type=dtype.simpleString(),
                      dtype="float32")
