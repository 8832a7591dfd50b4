"""Spark DataFrame -> Parquet shards in the store, one shard per worker, train and val.

The data never goes through the driver: Spark tasks convert it and write it with pyarrow
through the store's filesystem (``cerebro.data.writer``); the driver only gets one small
summary per task and writes a JSON record (``DatasetInfo``) last, so a crash mid-way never
leaves a dataset that looks complete.

Prepared data is content-addressed: its *fingerprint* hashes the source DataFrame's content
(an order-independent aggregate that the column checks compute in the same Spark job) and
every preparation setting. A rerun on the same store with the same DataFrame and settings
finds ``data/datasets/<fingerprint>.json`` and reuses the shards instead of writing them
again; a changed DataFrame gets another fingerprint and is prepared anew. Two projects on
one store therefore never overwrite each other's data, and nothing here deletes a dataset.

One pass over the user's plan: a preparation runs a few Spark jobs on the same DataFrame
(the inspection, a text vocabulary, the write), and an uncached DataFrame is recomputed
from its source by each (a LIBSVM parse, a ``OneHotEncoder``, a ``randomSplit`` sort).
``one_pass`` holds it on the executors' local disk for the preparation's duration, so the
source is read once; it is released at the end. A DataFrame the user cached stays theirs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Any, Mapping, Optional, Sequence, Union

from cerebro._logging import get_logger
from cerebro.data import driver_write
from cerebro.data import text as text_mod
from cerebro.data.columns import (TEXT, Inspection, check_columns_exist, inspect_dataframe,
                                  is_image_struct, storage_expr)
from cerebro.data.metadata import ColumnInfo, DatasetInfo
from cerebro.data.summary import dataset_info
from cerebro.data.writer import SUMMARY_SCHEMA, ColumnPlan, WritePlan, write_partition

log = get_logger("data")

VAL_FLAG = "__cerebro_is_val"
FORMAT_VERSION = 2  # bump when the prepared format changes: old datasets are not reused

ImageShapes = Mapping[str, Optional[Sequence[int]]]


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


@contextlib.contextmanager
def one_pass(df) -> Iterator[Any]:
    """Holds ``df`` computed (``DISK_ONLY``) for the jobs run inside, then releases it.

    On disk, not in memory: caching in the JVM heap ran a user's own session (Spark's default
    1 GB driver heap, local mode) out of heap on a 4M x 32 table
    (``tests/data/test_one_pass_heap.py``); on disk, each partition streams to its block.
    A small table pays ~0.1 s for it (MNIST's 5,000 rows: 1.2-1.5 s both ways).

    The first job computes the plan and keeps its rows; later jobs on ``df`` or on plans
    derived from it read them instead of going back to the source. A DataFrame the user
    persisted is used as it is and left persisted. Adaptive query execution is off inside
    (and restored after): it runs each aggregation's shuffle as a job of its own, which on
    the few partitions a preparation shuffles buys nothing but the jobs' start-up.
    """
    from pyspark import StorageLevel

    conf = df.sparkSession.conf
    aqe = conf.get("spark.sql.adaptive.enabled", None)
    conf.set("spark.sql.adaptive.enabled", "false")
    ours = df.storageLevel == StorageLevel(False, False, False, False, 1)  # not the user's
    if ours:
        df.persist(StorageLevel.DISK_ONLY)
    try:
        yield df
    finally:
        if ours:
            df.unpersist(blocking=False)
        if aqe is None:
            conf.unset("spark.sql.adaptive.enabled")
        else:
            conf.set("spark.sql.adaptive.enabled", aqe)


def fingerprint(content: str, settings: dict[str, Any]) -> str:
    """The content address of a prepared dataset (hex, 20 characters)."""
    doc = json.dumps({"version": FORMAT_VERSION, "content": content, **settings},
                     sort_keys=True, default=list)
    return hashlib.sha256(doc.encode()).hexdigest()[:20]


def _check_args(num_partitions, feature_columns, label_columns, images, text) -> None:
    if isinstance(num_partitions, bool) or not isinstance(num_partitions, int) \
            or num_partitions < 1:
        raise ValueError(f"num_partitions must be an int >= 1, got {num_partitions!r}")
    overlap = set(feature_columns) & set(label_columns)
    if overlap:
        raise ValueError(f"column(s) {sorted(overlap)} are both features and labels")
    for name, cols in (("images", images), ("text", text)):
        unknown = sorted(set(cols) - set(feature_columns))
        if unknown:
            raise ValueError(f"{name} names column(s) {unknown} that are not feature columns")
    for c, shape in images.items():
        if shape is not None and (len(tuple(shape)) not in (2, 3)
                                  or any(int(s) <= 0 for s in shape)
                                  or (len(tuple(shape)) == 3 and int(shape[2]) not in (1, 2, 3, 4))):
            raise ValueError(f"image shape {tuple(shape)} for column {c!r} must be (height, "
                             "width) or (height, width, channels) with 1-4 channels")


def _inspect(df, inspected, features, labels, validation, text, weight) -> Inspection:
    if isinstance(inspected, Inspection):
        return inspected
    if inspected is not None:  # (rows, columns): checks done, but no content fingerprint
        rows, columns = inspected
        return Inspection(rows, columns, {}, "")
    extra = [validation] if isinstance(validation, str) else []
    return inspect_dataframe(df, features, labels, text_columns=list(text),
                             extra_columns=extra, weight_column=weight)


def prepare_data(
    store,
    df,
    feature_columns: Sequence[str],
    label_columns: Sequence[str],
    num_partitions: int,
    validation: Union[float, str] = 0.25,
    seed: int = 0,
    inspected: Union[Inspection, tuple[int, dict[str, ColumnInfo]], None] = None,
    *,
    images: Optional[ImageShapes] = None,
    text: Optional[Mapping[str, text_mod.TextSettings]] = None,
    reuse: bool = True,
    weight_column: Optional[str] = None,
) -> DatasetInfo:
    """Validates ``df`` and writes it as ``num_partitions`` train and val shards (or reuses them).

    Args:
        store: A ``cerebro.storage.Store``.
        df: The Spark DataFrame.
        feature_columns: Feature column names (numeric, arrays of numbers, ML vectors, JPEG/PNG
            bytes or Spark image structs, and the ``text`` columns).
        label_columns: Label column names (numeric).
        num_partitions: Shards per split; one per worker.
        validation: A fraction in (0, 1), or the name of a bool/int column marking val rows.
        seed: Seed of the random split.
        inspected: What ``inspect_dataframe`` returned for exactly these columns of ``df``
            (with the validation column among its ``extra_columns``): its checks stand and that
            Spark job is not repeated. A bare ``(rows, columns)`` pair carries no content
            fingerprint, so such a dataset is never reused.
        images: Target ``(height, width[, channels])`` of image columns; an image column left
            out (or ``None``) takes the size and channels of its first image.
        text: ``TextSettings`` of each string feature column to tokenize.
        reuse: Reuse a dataset already in the store with the same fingerprint.
        weight_column: A column of per-row sample weights, checked (``inspect_dataframe``)
            and kept in the shards as float32; ``inspected`` must then cover it.

    Returns:
        The ``DatasetInfo``, also written to ``store.dataset_key(info.fingerprint)`` and, as
        the latest dataset, to ``store.metadata_key()``.
    """
    feature_columns, label_columns, images, text = (list(feature_columns), list(label_columns),
                                                    dict(images or {}), dict(text or {}))
    _check_args(num_partitions, feature_columns, label_columns, images, text)
    if inspected is not None:  # the caller ran the inspection: the pass is the caller's
        return _prepare(store, df, feature_columns, label_columns, num_partitions, validation,
                        seed, inspected, images, text, reuse, weight_column)
    with one_pass(df):
        return _prepare(store, df, feature_columns, label_columns, num_partitions, validation,
                        seed, inspected, images, text, reuse, weight_column)


def _prepare(store, df, feature_columns: list[str], label_columns: list[str],
             num_partitions: int, validation, seed: int, inspected, images: dict, text: dict,
             reuse: bool, weight_column: Optional[str]) -> DatasetInfo:
    found = _inspect(df, inspected, feature_columns, label_columns, validation, text,
                     weight_column)
    stored = feature_columns + label_columns + ([weight_column] if weight_column else [])
    columns = _inspected_columns(found, stored, text)
    settings = _settings(columns, feature_columns, label_columns, validation, seed,
                         num_partitions, images, text, weight_column)
    fp = fingerprint(found.content, settings) if found.content else uuid.uuid4().hex[:20]
    reused = _reuse(store, fp, found) if reuse and found.content else None
    if reused is not None:
        return reused
    log.info("preparing dataset %s (%s)", fp, "no content fingerprint" if not found.content
             else "no dataset in the store matches this DataFrame's content and settings")
    encodings = {c: text_mod.fit(df, c, s) for c, s in text.items()}
    return _publish(store, fp, _write(store, df, fp, columns, feature_columns, label_columns,
                                      num_partitions, validation, seed, images, encodings,
                                      weight_column, found.rows))


def _publish(store, fp: str, info: DatasetInfo) -> DatasetInfo:
    """Writes the dataset's record (last: its presence means complete), makes it the
    latest; returns it."""
    store.write_json(store.dataset_key(fp), info.to_json())
    store.write_json(store.metadata_key(), info.to_json())
    log.info("prepared %d train and %d val rows in %d partitions (train rows per shard: %s)",
             info.train.total_rows, info.val.total_rows, len(info.train.rows),
             list(info.train.rows))
    return info


def _inspected_columns(found: Inspection, names: list[str],
                       text: dict[str, text_mod.TextSettings]) -> dict[str, ColumnInfo]:
    """The inspected columns by name; a string column gets default ``TextSettings``."""
    missing = [c for c in names if c not in found.columns]
    if missing:
        raise ValueError(f"inspected holds no information on column(s) {missing}")
    columns = {c: found.columns[c] for c in names}
    for c, info in columns.items():
        if info.kind == TEXT and c not in text:
            text[c] = text_mod.TextSettings()
    return columns


def _reuse(store, fp: str, found: Inspection) -> Optional[DatasetInfo]:
    """The dataset ``fp`` if the store holds it whole (made the latest), else ``None``."""
    info = _reusable(store, fp)
    if info is not None:
        log.info("data preparation skipped: the store already holds dataset %s for this "
                 "DataFrame (%d rows, same content fingerprint) and these settings; "
                 "reusing its %d train and %d val rows", fp, found.rows,
                 info.train.total_rows, info.val.total_rows)
        store.write_json(store.metadata_key(), info.to_json())
    return info


def _settings(columns, features, labels, validation, seed, num_partitions, images,
              text, weight_column: Optional[str] = None) -> dict[str, Any]:
    out = {
        "columns": {c: [i.kind, i.length, i.source_type, i.dtype] for c, i in columns.items()},
        "features": features, "labels": labels, "num_partitions": num_partitions,
        "validation": ["column", validation] if isinstance(validation, str)
        else ["fraction", float(validation), seed],
        "images": {c: list(s) if s is not None else None for c, s in sorted(images.items())},
        "text": {c: [s.sequence_length, s.vocabulary_size, s.lowercase]
                 for c, s in sorted(text.items())},
    }
    if weight_column:  # absent otherwise: unweighted datasets keep their fingerprints
        out["weight"] = weight_column
    return out


def _reusable(store, fp: str, quiet: bool = False) -> Optional[DatasetInfo]:
    """The dataset ``fp`` if the store holds it complete (record and every shard file)."""
    import dataclasses

    key = store.dataset_key(fp)
    if not store.exists(key):
        return None
    info = DatasetInfo.from_json(store.read_json(key))
    for split, s in (("train", info.train), ("val", info.val)):
        present = set(store.listdir(store.shards_key(split, fp)))
        if any(k.rsplit("/", 1)[-1] not in present for files in s.shards for k in files):
            if not quiet:
                log.warning("dataset %s in the store is missing shard files; preparing it "
                            "again", fp)
            return None
    return dataclasses.replace(info, reused=True)


def _plan(store, columns, types, encodings, staging) -> WritePlan:
    plans = []
    for c in columns:
        info = columns[c]
        plans.append(ColumnPlan(c, info.kind, info.dtype, is_image_struct(types[c]),
                                encodings[c].to_json() if c in encodings else None))
    return WritePlan(store, tuple(plans), staging, VAL_FLAG)


def _write(store, df, fp, columns, features, labels, num_partitions, validation, seed, images,
           encodings, weight_column=None, rows: int = -1) -> DatasetInfo:
    """Runs the one Spark job that writes both splits (or, on a small dataset, collects it
    and writes them from here: ``driver_write``), then publishes them."""
    from pyspark.sql import functions as F

    flagged = _validation_flag(df, validation, seed)
    types = dict((f.name, f.dataType) for f in df.schema.fields)
    exprs = []
    for c in columns:  # features, labels, then the weight column
        if c in encodings:
            flagged = encodings[c].tokenize(flagged, c, f"{c}__tokens")
            exprs.append(F.col(f"`{c}__tokens`").alias(c))
        else:
            exprs.append(storage_expr(columns[c], types[c]).alias(c))
    final = {s: store.shards_key(s, fp) for s in ("train", "val")}
    staging = {s: store.temp_key(k) for s, k in final.items()}
    plan = _plan(store, columns, types, encodings, staging)
    try:
        log.info("writing train and val shards of dataset %s under %s", fp,
                 store.shards_key("train", fp))
        selected = flagged.select(*exprs, F.col(VAL_FLAG))
        summaries = _write_shards(plan, selected, num_partitions, rows, columns)
        errors = [s["error"] for s in summaries if s.get("error")]
        if errors:
            raise ValueError(errors[0])
        info = dataset_info(fp, summaries, columns, features, labels, num_partitions,
                             images, encodings, store, weight_column)
        done = _reusable(store, fp, quiet=True)
        if done is not None:  # another run published this very dataset meanwhile
            for key in staging.values():
                store.delete(key)
            return done
        for s in ("train", "val"):
            if store.exists(staging[s]):
                store.move_atomic(staging[s], final[s])
            else:
                store.makedirs(final[s])
    except BaseException:
        for key in staging.values():  # leave every dataset in the store exactly as it was
            store.delete(key)
        raise
    return info


def _write_shards(plan: WritePlan, selected, num_partitions: int, rows: int,
                  columns: dict[str, ColumnInfo]) -> list[dict[str, Any]]:
    """Each partition's summary, its shards written by Spark's tasks or, small, by the driver."""
    from pyspark.sql import functions as F

    size = driver_write.collected_bytes(rows, columns) if rows >= 0 else None
    if size is not None and size <= driver_write.DRIVER_WRITE_BYTES:
        log.info("writing the shards from the driver (%d rows, %.1f MB)", rows, size / 2**20)
        return driver_write.write_here(plan, selected, num_partitions)
    out = (selected.repartition(num_partitions)
           .mapInArrow(lambda it: write_partition(plan, it), SUMMARY_SCHEMA))
    return [json.loads(r["summary"]) for r in
            out.agg(F.sort_array(F.collect_list(F.struct("partition", "summary")))
                    .alias("s")).first()["s"]]


def load_dataset_info(store, fingerprint: Optional[str] = None) -> DatasetInfo:
    """Reads a prepared ``DatasetInfo``: dataset ``fingerprint``, or the latest one prepared.

    Raises:
        FileNotFoundError: the store holds no such prepared dataset.
    """
    key = store.dataset_key(fingerprint) if fingerprint else store.metadata_key()
    if not store.exists(key):
        raise FileNotFoundError(
            f"no prepared data in the store at {key!r}; call prepare_data first"
        )
    return DatasetInfo.from_json(store.read_json(key))
