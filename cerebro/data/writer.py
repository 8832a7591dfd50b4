"""The Spark-task side of ``prepare_data``: each task writes its partition's two shards.

The tasks write with pyarrow through the store's own filesystem (local disk, HDFS, S3...),
so Spark never needs to address the store (no ``hadoop-aws`` for S3). Each shard file is
written to a hidden temporary and published on success (``Store.open_output``); a retried
task writes the same file again. Each task returns one small JSON summary (rows per split,
image sizes, token counts, or the data error it met), so that nothing but a handful of
numbers reaches the driver.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from typing import Any, Iterator, Optional

import numpy as np

from cerebro.data.metadata import ARRAY, IMAGE, SCALAR

TEXT = "text"
SUMMARY_SCHEMA = "partition long, summary string"
ROW_GROUP_BYTES = 32 << 20  # a row group is what a reader holds at once: keep it small
ROW_GROUP_ROWS = 65_536


class DataError(ValueError):
    """Bad data found by a preparation task (reported to the driver, raised there)."""


@dataclasses.dataclass(frozen=True)
class ColumnPlan:
    """How one prepared column is written.

    Attributes:
        name: The column.
        kind: ``scalar``, ``array``, ``image`` or ``text`` (written as an int32 array).
        dtype: The numpy dtype of the stored values (images: the decoded dtype, uint8).
        image_struct: The source is Spark's image struct (re-encoded as PNG).
        text: The ``TextEncoding`` (as JSON) of a text column.
    """

    name: str
    kind: str
    dtype: str = "float32"
    image_struct: bool = False
    text: Optional[dict[str, Any]] = None


@dataclasses.dataclass(frozen=True)
class WritePlan:
    store: Any
    columns: tuple[ColumnPlan, ...]
    staging: dict[str, str]  # split -> staging directory key
    flag: str  # the bool column marking validation rows


def part_name(partition: int) -> str:
    return f"part-{partition:05d}.parquet"


def arrow_type(plan: ColumnPlan):
    import pyarrow as pa

    if plan.kind == IMAGE:
        return pa.binary()
    if plan.kind == TEXT:
        return pa.list_(pa.int32())
    value = pa.from_numpy_dtype(np.dtype(plan.dtype))
    return pa.list_(value) if plan.kind == ARRAY else value


def _numeric(arr, plan: ColumnPlan):
    import pyarrow as pa

    if plan.kind == ARRAY and arr.values.null_count:  # type: ignore[attr-defined]
        raise DataError(f"column {plan.name!r} holds arrays with null elements")
    try:
        return arr.cast(arrow_type(plan))
    except pa.ArrowInvalid as e:
        raise DataError(f"column {plan.name!r} does not fit {plan.dtype}: {e}") from e


def _images(arr, plan: ColumnPlan, stats: dict):
    import pyarrow as pa

    from cerebro.data import images

    if plan.image_struct:
        rows = arr.to_pylist()
        values = [images.struct_to_png(r["height"], r["width"], r["nChannels"], r["data"])
                  for r in rows]
    else:
        values = arr.cast(pa.binary()).to_pylist()
    for data in values:
        try:
            h, w, c = images.probe(data)
        except images.ImageDecodeError as e:
            raise DataError(f"image column {plan.name!r}: a row's header is unreadable: "
                            f"{e}") from e
        if "first" not in stats:
            stats["first"] = [h, w, c]
        stats["h"] = [min(stats.get("h", [h, h])[0], h), max(stats.get("h", [h, h])[1], h)]
        stats["w"] = [min(stats.get("w", [w, w])[0], w), max(stats.get("w", [w, w])[1], w)]
        stats["rows"] = stats.get("rows", 0) + 1
    return pa.array(values, pa.binary())


def _text(arr, plan: ColumnPlan, stats: dict):
    import pyarrow as pa

    from cerebro.data.text import OOV, TextEncoding

    enc = TextEncoding.from_json(plan.text or {})
    tokens = arr.to_pylist()
    ids = enc.ids(tokens)
    lengths = np.array([len(t or ()) for t in tokens])
    stats["rows"] = stats.get("rows", 0) + len(tokens)
    stats["tokens"] = stats.get("tokens", 0) + int(np.minimum(lengths, enc.sequence_length).sum())
    stats["oov"] = stats.get("oov", 0) + int((ids == OOV).sum())
    stats["truncated"] = stats.get("truncated", 0) + int((lengths > enc.sequence_length).sum())
    n, length = ids.shape
    offsets = pa.array(np.arange(0, (n + 1) * length, length, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(ids.reshape(-1), pa.int32()))


def convert(batch, plan: WritePlan, stats: dict):
    """One Arrow batch from Spark -> the prepared table (without the validation flag)."""
    import pyarrow as pa

    out = []
    for col in plan.columns:
        arr = batch.column(batch.schema.get_field_index(col.name))
        if col.kind in (SCALAR, ARRAY):
            out.append(_numeric(arr, col))
        elif col.kind == IMAGE:
            out.append(_images(arr, col, stats.setdefault(col.name, {})))
        else:
            out.append(_text(arr, col, stats.setdefault(col.name, {})))
    return pa.Table.from_arrays(out, schema=schema(plan))


def schema(plan: WritePlan):
    import pyarrow as pa

    return pa.schema([pa.field(c.name, arrow_type(c), nullable=False) for c in plan.columns])


def dictionary_columns(plan: WritePlan) -> list[str]:
    """Integer columns (labels, ids, pixels): their few distinct values dictionary-encode
    well. Floats and image bytes rarely repeat; a dictionary tried on them is wasted space."""
    return [c.name for c in plan.columns
            if c.kind == TEXT or (c.kind != IMAGE and np.dtype(c.dtype).kind in "iu")]


class _SplitWriter:
    """Buffers a split's rows into row groups of bounded size; opens its file on first rows."""

    def __init__(self, plan: WritePlan, split: str, partition: int, stack):
        self.plan, self.split, self.partition, self.stack = plan, split, partition, stack
        self.writer = None
        self.pending: list = []
        self.pending_bytes = self.pending_rows = self.rows = 0

    def add(self, table) -> None:
        if table.num_rows == 0:
            return
        self.pending.append(table)
        self.pending_rows += table.num_rows
        self.pending_bytes += table.nbytes
        if self.pending_bytes >= ROW_GROUP_BYTES or self.pending_rows >= ROW_GROUP_ROWS:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.pending:
            return
        if self.writer is None:
            key = f"{self.plan.staging[self.split]}/{part_name(self.partition)}"
            out = self.stack.enter_context(self.plan.store.open_output(key))
            self.writer = pq.ParquetWriter(out, schema(self.plan), compression="snappy",
                                           use_dictionary=dictionary_columns(self.plan))
            self.stack.callback(self.writer.close)
        table = pa.concat_tables(self.pending)
        per_row = max(1, table.nbytes // max(1, table.num_rows))
        self.writer.write_table(table, row_group_size=max(1, ROW_GROUP_BYTES // per_row))
        self.rows += table.num_rows
        self.pending, self.pending_bytes, self.pending_rows = [], 0, 0


def write_rows(plan: WritePlan, partition: int, batches) -> dict[str, Any]:
    """Writes partition ``partition``'s two shards from Arrow batches (the prepared columns
    and the validation flag); returns its summary (rows per split, stats, or the data error).
    """
    import pyarrow.compute as pc

    stats: dict[str, dict] = {}
    summary: dict[str, Any] = {"partition": partition}
    try:
        with contextlib.ExitStack() as stack:
            writers = {s: _SplitWriter(plan, s, partition, stack) for s in ("train", "val")}
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                table = convert(batch, plan, stats)
                is_val = pc.fill_null(batch.column(batch.schema.get_field_index(plan.flag)),
                                      False)
                writers["val"].add(table.filter(is_val))
                writers["train"].add(table.filter(pc.invert(is_val)))
            for w in writers.values():
                w.flush()
        summary["rows"] = {s: w.rows for s, w in writers.items()}
        summary["stats"] = stats
    except DataError as e:
        summary["error"] = str(e)
    return summary


def write_partition(plan: WritePlan, batches) -> Iterator[Any]:
    """``mapInArrow`` body: writes this task's partition, yields one summary row."""
    import pyarrow as pa
    from pyspark import TaskContext

    partition = TaskContext.get().partitionId()
    summary = write_rows(plan, partition, batches)
    yield pa.RecordBatch.from_pydict({"partition": [partition], "summary": [json.dumps(summary)]},
                                     schema=pa.schema([("partition", pa.int64()),
                                                       ("summary", pa.string())]))
