"""Spark DataFrame -> Parquet shards in the store, one shard per worker, train and val.

The data never goes through the driver: Spark converts and writes it; the driver only reads
Parquet footers (row counts) and writes a small JSON record (``DatasetInfo``) last, so a crash
mid-way never leaves a dataset that looks complete.
"""

from __future__ import annotations

import re
import uuid
from typing import Optional, Sequence

from cerebro._logging import get_logger
from cerebro.data.columns import check_columns_exist, inspect_columns, numeric_expr
from cerebro.data.metadata import ColumnInfo, DatasetInfo, SplitInfo

log = get_logger("data")

_PART = re.compile(r"^part-(\d+)")
VAL_FLAG = "__cerebro_is_val"


def _validation_flag(df, validation, seed: int):
    """Returns ``df`` with a boolean column saying which rows are validation rows."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if isinstance(validation, str):
        check_columns_exist(df, [validation], "validation")
        dtype = df.schema[validation].dataType
        if not isinstance(dtype, (T.BooleanType, T.IntegerType, T.LongType, T.ShortType, T.ByteType)):
            raise TypeError(
                f"validation column {validation!r} has type {dtype.simpleString()}; "
                "expected a bool or int column (true/1 marks validation rows)"
            )
        return df.withColumn(VAL_FLAG, F.coalesce(F.col(validation).cast("boolean"), F.lit(False)))
    if isinstance(validation, bool) or not isinstance(validation, (int, float)):
        raise TypeError(
            f"validation must be a fraction in (0, 1) or a column name, got {validation!r}"
        )
    if not 0.0 < float(validation) < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {validation}")
    return df.withColumn(VAL_FLAG, F.rand(seed) < F.lit(float(validation)))


def _shards_of(store, key: str, num_partitions: int) -> SplitInfo:
    """Maps Spark's ``part-NNNNN`` files under ``key`` to partitions and counts their rows."""
    import pyarrow.parquet as pq

    shards: list[list[str]] = [[] for _ in range(num_partitions)]
    rows = [0] * num_partitions
    fs = store.filesystem
    for name in store.listdir(key):
        m = _PART.match(name)
        if not m or not name.endswith(".parquet"):
            continue
        p = int(m.group(1))
        if p >= num_partitions:
            raise RuntimeError(f"unexpected Parquet part {name} for {num_partitions} partitions")
        file_key = f"{key}/{name}"
        with fs.open_input_file(store.fs_path(file_key)) as f:
            rows[p] += pq.read_metadata(f).num_rows
        shards[p].append(file_key)
    return SplitInfo(tuple(tuple(s) for s in shards), tuple(rows))


def prepare_data(
    store,
    df,
    feature_columns: Sequence[str],
    label_columns: Sequence[str],
    num_partitions: int,
    validation=0.25,
    seed: int = 0,
    inspected: Optional[tuple[int, dict[str, ColumnInfo]]] = None,
) -> DatasetInfo:
    """Validates ``df`` and writes it as ``num_partitions`` train and val shards.

    Args:
        store: A ``cerebro.storage.Store``.
        df: The Spark DataFrame.
        feature_columns: Feature column names (numeric, arrays of numbers, or ML vectors).
        label_columns: Label column names.
        num_partitions: Shards per split; one per worker.
        validation: A fraction in (0, 1), or the name of a bool/int column marking val rows.
        seed: Seed of the random split.
        inspected: ``(rows, columns)`` that an ``inspect_columns`` of exactly these columns
            of ``df`` returned; the caller's checks stand and that Spark job is not repeated.

    Returns:
        The ``DatasetInfo`` also written to ``store.metadata_key()``.
    """
    if num_partitions < 1:
        raise ValueError(f"num_partitions must be >= 1, got {num_partitions}")
    feature_columns, label_columns = list(feature_columns), list(label_columns)
    overlap = set(feature_columns) & set(label_columns)
    if overlap:
        raise ValueError(f"column(s) {sorted(overlap)} are both features and labels")
    if inspected is None:
        inspected = inspect_columns(df, feature_columns, label_columns)
    rows, columns = inspected
    missing = [c for c in feature_columns + label_columns if c not in columns]
    if missing:
        raise ValueError(f"inspected holds no information on column(s) {missing}")
    columns = {c: columns[c] for c in feature_columns + label_columns}
    flagged = _validation_flag(df, validation, seed)
    types = dict((f.name, f.dataType) for f in df.schema.fields)
    exprs = [numeric_expr(c, types[c]) for c in feature_columns + label_columns]

    from pyspark.sql import functions as F

    prep_id = uuid.uuid4().hex[:12]
    staging = f"{store.train_data_key()}/.staging-{prep_id}"
    keys = {"staging": staging, "train": f"{store.train_data_key()}/{prep_id}",
            "val": f"{store.val_data_key()}/{prep_id}"}
    try:
        # One pass: the split is computed once, so no row can land in both splits or in
        # neither, whatever the input's row order. Each of the num_partitions tasks writes
        # its part-NNNNN file under both VAL_FLAG=false (train) and VAL_FLAG=true (val).
        log.info("writing train and val shards to %s", store.uri(staging))
        (flagged.select(*exprs, F.col(VAL_FLAG)).repartition(num_partitions)
         .write.mode("overwrite").partitionBy(VAL_FLAG).parquet(store.uri(staging)))
        for split, flag in (("train", "false"), ("val", "true")):
            if store.exists(f"{staging}/{VAL_FLAG}={flag}"):
                store.move_atomic(f"{staging}/{VAL_FLAG}={flag}", keys[split])
        store.delete(staging)
        train = _shards_of(store, keys["train"], num_partitions)
        val = _shards_of(store, keys["val"], num_partitions)
        if train.total_rows == 0:
            raise ValueError(f"the validation split took all {rows} rows; no training rows are left")
        if val.total_rows == 0:
            raise ValueError(f"the validation split of {validation!r} left no validation rows")
    except BaseException:
        for key in keys.values():  # leave the previous dataset (if any) exactly as it was
            store.delete(key)
        raise
    info = DatasetInfo(
        columns=columns,
        num_partitions=num_partitions,
        train=train,
        val=val,
        feature_columns=tuple(feature_columns),
        label_columns=tuple(label_columns),
    )
    old = _previous_prep_dirs(store, prep_id)
    store.write_json(store.metadata_key(), info.to_json())
    for key in old:
        store.delete(key)
    log.info(
        "prepared %d train and %d val rows in %d partitions (train rows per shard: %s)",
        train.total_rows, val.total_rows, num_partitions, list(train.rows),
    )
    return info


def _previous_prep_dirs(store, keep: str) -> list[str]:
    out = []
    for base in (store.train_data_key(), store.val_data_key()):
        out += [f"{base}/{name}" for name in store.listdir(base)
                if name != keep and not name.startswith(".staging-")]
    return out


def load_dataset_info(store) -> DatasetInfo:
    """Reads the ``DatasetInfo`` that ``prepare_data`` wrote, or raises ``FileNotFoundError``."""
    if not store.exists(store.metadata_key()):
        raise FileNotFoundError(
            f"no prepared data in the store at {store.metadata_key()!r}; call prepare_data first"
        )
    return DatasetInfo.from_json(store.read_json(store.metadata_key()))
