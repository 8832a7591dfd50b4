"""Spark column types -> prepared columns, and the checks that run before any training.

Every check here runs on the Spark side (aggregates, never ``collect()`` of the data) and
raises a ``ValueError``/``TypeError`` that names the column and what was expected.

Stored dtypes (``ColumnInfo.dtype``): floating columns, arrays of them and ML vectors are
float32; booleans are uint8; integer columns (and arrays of them) keep their Spark width
(int8/int16/int32/int64), except that one whose values all lie in 0..255 is stored as uint8
(Spark has no unsigned type: this is how pixel arrays come out of it). Encoded images stay
bytes; text becomes int32 ids (``cerebro.data.text``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Optional, Sequence

from cerebro.data.images import STRUCT_FIELDS
from cerebro.data.metadata import ARRAY, IMAGE, SCALAR, ColumnInfo
from cerebro.data.weights import check_weight_column, weight_aggregates, weight_info

TEXT = "text"  # a string column tokenized in preparation; prepared as an int32 ARRAY
_PNG_HEX, _JPEG_HEX = "89504E470D0A1A0A", "FFD8FF"
_INT_WIDTH = {"ByteType": "int8", "ShortType": "int16", "IntegerType": "int32",
              "LongType": "int64"}


def _is_vector_type(dtype) -> bool:
    return type(dtype).__name__ == "VectorUDT"


def _is_numeric(dtype) -> bool:
    from pyspark.sql import types as T

    return isinstance(dtype, (T.NumericType, T.BooleanType))


def is_image_struct(dtype) -> bool:
    """Whether ``dtype`` is Spark's image struct (``spark.read.format("image")``)."""
    from pyspark.sql import types as T

    return isinstance(dtype, T.StructType) and set(STRUCT_FIELDS) <= set(dtype.fieldNames())


def is_image_type(dtype) -> bool:
    """Encoded image bytes (``binaryFile``'s ``content``) or Spark's image struct."""
    from pyspark.sql import types as T

    return isinstance(dtype, T.BinaryType) or is_image_struct(dtype)


def column_kind(name: str, dtype, role: str) -> str:
    """Classifies a Spark column as ``scalar``, ``array`` or (features) ``image``.

    Args:
        name: Column name (for the message).
        dtype: Its Spark ``DataType``.
        role: ``"feature"`` or ``"label"`` (for the message).

    Raises:
        TypeError: the type is none of these.
    """
    from pyspark.sql import types as T

    if _is_vector_type(dtype):
        return ARRAY
    if isinstance(dtype, T.ArrayType) and _is_numeric(dtype.elementType):
        return ARRAY
    if _is_numeric(dtype):
        return SCALAR
    if role == "feature" and is_image_type(dtype):
        return IMAGE
    images = ", JPEG/PNG bytes or a Spark image struct" if role == "feature" else ""
    raise TypeError(
        f"{role} column {name!r} has Spark type {dtype.simpleString()}; expected a numeric "
        f"scalar, an array of numbers, or a Spark ML vector (dense or sparse){images}")


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


def storage_expr(info: ColumnInfo, dtype):
    """The Spark expression whose Arrow values the preparation task casts to ``info.dtype``."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if info.kind in (IMAGE, TEXT) or info.dtype != "float32":
        return F.col(f"`{info.name}`")
    if isinstance(dtype, T.ArrayType) and isinstance(dtype.elementType, T.FloatType):
        return F.col(f"`{info.name}`")
    return numeric_expr(info.name, dtype)


def storage_dtype(dtype, lo: Any = None, hi: Any = None) -> str:
    """The numpy dtype a numeric Spark type (or array element type) is stored as."""
    from pyspark.sql import types as T

    if _is_vector_type(dtype):
        return "float32"
    if isinstance(dtype, T.ArrayType):
        dtype = dtype.elementType
    if isinstance(dtype, T.BooleanType):
        return "uint8"
    width = _INT_WIDTH.get(type(dtype).__name__)
    if width is None:
        return "float32"
    if lo is not None and hi is not None and 0 <= int(lo) and int(hi) <= 255:
        return "uint8"
    return width


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
        columns: Each checked column's kind, per-row length and stored dtype.
        classes: For each scalar column of ``class_columns``: its sorted distinct values
            (at most ``max_classes + 1`` of them are kept).
        content: An order-independent fingerprint of the hashed columns' values: the row
            count, the sum and the XOR of every row's ``xxhash64``. Equal DataFrames give
            equal fingerprints; a changed row changes it (up to 64-bit hash collisions).
    """

    rows: int
    columns: dict[str, ColumnInfo]
    classes: dict[str, tuple]
    content: str = ""


def _kinds(types, feature_columns, label_columns, class_columns, text_columns) -> dict:
    from pyspark.sql import types as T

    kinds = {}
    for role, cols in (("feature", feature_columns), ("label", label_columns)):
        for c in cols:
            if c in class_columns and isinstance(types[c], T.StringType):
                kinds[c] = SCALAR
            elif c in text_columns:
                if not isinstance(types[c], T.StringType):
                    raise TypeError(f"text column {c!r} has Spark type "
                                    f"{types[c].simpleString()}; a TextInput needs a string "
                                    "column")
                kinds[c] = TEXT
            else:
                kinds[c] = column_kind(c, types[c], role)
    return kinds


def _integral(dtype) -> bool:
    from pyspark.sql import types as T

    el = dtype.elementType if isinstance(dtype, T.ArrayType) else dtype
    return type(el).__name__ in _INT_WIDTH


def _origin(df, c: str, dtype):
    """Where a bad image came from: the struct's origin, or binaryFile's ``path``."""
    from pyspark.sql import functions as F

    if is_image_struct(dtype):
        return F.col(f"`{c}`.origin")
    return F.col("path").cast("string") if "path" in df.columns else F.lit(None).cast("string")


def _image_bad(c: str, dtype):
    from pyspark.sql import functions as F

    col = F.col(f"`{c}`")
    if is_image_struct(dtype):
        return (col.height < 1) | (col.width < 1) | col.data.isNull() | (F.length(col.data) == 0)
    head = F.hex(F.substring(col, 1, 8))
    return ~(head.startswith(_PNG_HEX) | head.startswith(_JPEG_HEX))


def _aggregates(df, kinds, types, distinct, max_classes, hashed) -> list:
    from pyspark.sql import functions as F

    h = F.xxhash64(*[F.col(f"`{c}`") for c in hashed])
    aggs = [F.count(F.lit(1)).alias("__rows"),
            F.sum(h.cast("decimal(38,0)")).alias("__hsum"), F.bit_xor(h).alias("__hxor")]
    for c, kind in kinds.items():
        col = F.col(f"`{c}`")
        aggs.append(F.sum(col.isNull().cast("long")).alias(f"{c}__nulls"))
        if kind == ARRAY:
            size = F.size(numeric_expr(c, types[c]))
            aggs += [F.min(size).alias(f"{c}__min"), F.max(size).alias(f"{c}__max")]
        if kind in (SCALAR, ARRAY) and _integral(types[c]):
            value_min = F.array_min(col) if kind == ARRAY else col
            value_max = F.array_max(col) if kind == ARRAY else col
            aggs += [F.min(value_min).alias(f"{c}__lo"), F.max(value_max).alias(f"{c}__hi")]
        if kind == IMAGE:
            bad = col.isNotNull() & _image_bad(c, types[c])
            aggs += [F.sum(bad.cast("long")).alias(f"{c}__bad"),
                     F.min(F.when(bad, _origin(df, c, types[c]))).alias(f"{c}__bad_at")]
    for c in distinct:
        aggs.append(F.slice(F.collect_set(F.col(f"`{c}`")), 1, max_classes + 1)
                    .alias(f"{c}__classes"))
    return aggs


def _column_info(c: str, kind: str, dtype, row, rows: int, role: str) -> ColumnInfo:
    nulls = int(row[f"{c}__nulls"] or 0)
    if nulls:
        raise ValueError(f"{role} column {c!r} has {nulls} null value(s) in {rows} rows")
    source = dtype.simpleString()
    if kind == IMAGE:
        bad = int(row[f"{c}__bad"] or 0)
        if bad:
            where = row[f"{c}__bad_at"]
            raise ValueError(
                f"image column {c!r}: {bad} of {rows} rows are not JPEG/PNG images"
                + (f" (e.g. {where})" if where else "")
                + "; remove them (for binaryFile: .option('pathGlobFilter', '*.png'))")
        return ColumnInfo(name=c, kind=IMAGE, length=0, source_type=source, dtype="uint8")
    if kind == TEXT:
        return ColumnInfo(name=c, kind=TEXT, length=1, source_type=source, dtype="int32")
    lo = row[f"{c}__lo"] if f"{c}__lo" in row else None
    hi = row[f"{c}__hi"] if f"{c}__hi" in row else None
    length = 1
    if kind == ARRAY:
        lo_len, hi_len = int(row[f"{c}__min"]), int(row[f"{c}__max"])
        if lo_len != hi_len:
            raise ValueError(
                f"{role} column {c!r} holds vectors of different lengths ({lo_len} to "
                f"{hi_len}); every row must have the same length")
        if lo_len == 0:
            raise ValueError(f"{role} column {c!r} holds empty vectors")
        length = lo_len
    return ColumnInfo(name=c, kind=kind, length=length, source_type=source,
                      dtype=storage_dtype(dtype, lo, hi))


def inspect_dataframe(
    df, feature_columns: Sequence[str], label_columns: Sequence[str],
    class_columns: Sequence[str] = (), max_classes: int = 10_000,
    text_columns: Sequence[str] = (), extra_columns: Sequence[str] = (),
    weight_column: Optional[str] = None,
) -> Inspection:
    """Checks the columns, collects class labels and fingerprints the content, in ONE job.

    Args:
        df: The Spark DataFrame.
        feature_columns: Feature columns (numeric scalars, numeric arrays, ML vectors, or
            image bytes / Spark image structs).
        label_columns: Label columns (numeric).
        class_columns: Label columns holding class labels: a scalar one may also be a string
            column, and its distinct values are collected.
        max_classes: More distinct values than this in a class column are not all returned.
        text_columns: Feature columns that are text (string columns).
        extra_columns: Further columns whose values the content fingerprint covers (e.g. a
            validation column).
        weight_column: A column of per-row sample weights: checked to be numeric, never
            null, finite and non-negative (not all 0); its ``ColumnInfo`` (float32) is among
            the returned columns and the fingerprint covers it.

    Raises:
        ValueError: a column is missing, the DataFrame is empty, a value is null, an
            array/vector column has rows of different lengths, an image column holds
            bytes that are not JPEG/PNG, or the weight column holds a bad weight.
        TypeError: a column has a type its role does not accept.
    """
    if not feature_columns:
        raise ValueError("feature_columns is empty; name at least one feature column")
    if not label_columns:
        raise ValueError("label_columns is empty; name at least one label column")
    check_columns_exist(df, feature_columns, "feature")
    check_columns_exist(df, label_columns, "label")
    check_columns_exist(df, extra_columns, "validation")
    types = dict((f.name, f.dataType) for f in df.schema.fields)
    weights = check_weight_column(df, types, weight_column, feature_columns, label_columns)
    kinds = _kinds(types, feature_columns, label_columns, class_columns, text_columns)
    distinct = [c for c in class_columns if kinds.get(c) == SCALAR]
    hashed = list(dict.fromkeys(list(kinds) + list(extra_columns) + weights))
    aggs = _aggregates(df, kinds, types, distinct, max_classes, hashed)
    row = df.agg(*aggs, *[a for c in weights for a in weight_aggregates(c)]).first()
    rows = int(row["__rows"])
    if rows == 0:
        raise ValueError("the DataFrame is empty: there is nothing to train on")
    row = row.asDict()
    out = {c: _column_info(c, kind, types[c], row, rows,
                           "label" if c in label_columns else "feature")
           for c, kind in kinds.items()}
    out.update({c: weight_info(c, types[c], row, rows) for c in weights})
    classes = {c: tuple(sorted(row[f"{c}__classes"])) for c in distinct}
    content = f"{rows}-{row['__hsum']}-{row['__hxor']}"
    return Inspection(rows, out, classes, content)


def check_input_shape(column: ColumnInfo, shape: Optional[Sequence[int]]) -> tuple[int, ...]:
    """Checks that ``shape`` fits the column's length; returns the per-row shape to use.

    Raises:
        ValueError: the product of ``shape`` differs from the column's length.
    """
    if column.kind == IMAGE and column.image_shape:
        return tuple(column.image_shape) if shape is None else _image_shape(column, shape)
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


def _image_shape(column: ColumnInfo, shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    if shape != tuple(column.image_shape or ()):
        raise ValueError(f"input_shape {shape} for image column {column.name!r} differs from "
                         f"the prepared image shape {tuple(column.image_shape or ())}")
    return shape
