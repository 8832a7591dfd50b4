"""Worker side: a partition's local copy on the executor's disk, read batch by batch.

On its first start a worker copies its partition (train or val) from the store's Parquet
files to a directory on its own disk, one raw file per column in the column's stored dtype
(``uint8``, ``int32``, ``float32``, ...; encoded images as their bytes plus an offset array).
It reads that copy either whole into memory (:meth:`DiskShard.load`) or range by range with
plain ``read`` calls (:meth:`DiskShard.read`), which puts nothing in the process's resident
memory but the range read (no memory map: mapped pages would count as the worker's RSS).

A copy is written to a temporary directory and renamed into place, with its ``meta.json``
last, so a crash never leaves a half-written copy that looks complete. A restarted worker on
the same host reuses a copy whose ``meta.json`` names the same dataset fingerprint, shard
files and columns.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from cerebro._logging import get_logger
from cerebro.data.metadata import ARRAY, IMAGE, DatasetInfo

log = get_logger("data")

META = "meta.json"
READ_BATCH_ROWS = 32_768
READ_BATCH_BYTES = 256 << 10  # a copy decodes about this much at a time
READ_BUFFER_BYTES = 1 << 20  # and reads a column chunk's pages through a buffer this big
FORMAT_VERSION = 1


def local_root(configured: Optional[str] = None) -> Path:
    """Where workers keep local copies: ``configured``, else ``$CEREBRO_LOCAL_DIR``, else the
    first of ``$SPARK_LOCAL_DIRS``, else the system's temporary directory."""
    base = configured or os.environ.get("CEREBRO_LOCAL_DIR") or \
        (os.environ.get("SPARK_LOCAL_DIRS", "").split(",")[0] or tempfile.gettempdir())
    return Path(base) / "cerebro-shards"


def _copy_id(info: DatasetInfo, split: str, partition: int, columns: Sequence[str]) -> str:
    split_info = info.train if split == "train" else info.val
    key = json.dumps([FORMAT_VERSION, info.fingerprint, list(split_info.shards[partition]),
                      sorted(columns)])
    return hashlib.sha256(key.encode()).hexdigest()[:20]


class MemoryShard:
    """A partition held in memory, in its stored dtypes (images stay encoded)."""

    def __init__(self, rows: int, columns: dict[str, dict], arrays: dict[str, np.ndarray],
                 offsets: dict[str, np.ndarray]):
        self.rows, self.columns = rows, columns
        self._arrays, self._offsets = arrays, offsets

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self._arrays.values())
                   + sum(o.nbytes for o in self._offsets.values()))

    in_memory = True

    def take(self, col: str, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` of ``col`` (images: an object array of ``bytes``)."""
        if col in self._offsets:
            off, data = self._offsets[col], self._arrays[col]
            return _objects([data[off[i]:off[i + 1]].tobytes() for i in idx])
        return self._arrays[col][idx]

    def read(self, col: str, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of ``col``."""
        if col in self._offsets:
            return self.take(col, np.arange(start, stop))
        return self._arrays[col][start:stop]


def _objects(items: list) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


class DiskShard:
    """A partition's local copy, read range by range (nothing of it kept in memory but the
    images' offsets, 8 bytes a row)."""

    in_memory = False

    def __init__(self, path: Path):
        self.path = Path(path)
        meta = json.loads((self.path / META).read_text())
        self.meta = meta
        self.rows = int(meta["rows"])
        self.columns: dict[str, dict] = meta["columns"]
        self._offsets = {c: np.fromfile(self.path / f"{c}.off", np.int64)
                         for c, m in self.columns.items() if m["kind"] == IMAGE}

    @property
    def nbytes(self) -> int:
        """Bytes of the copy on disk (what holding it in memory would take)."""
        return int(sum((self.path / f).stat().st_size for f in os.listdir(self.path)
                       if f != META))

    def read(self, col: str, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of ``col`` in its stored dtype (images: ``bytes`` objects)."""
        m = self.columns[col]
        if m["kind"] == IMAGE:
            off = self._offsets[col]
            lo, hi = int(off[start]), int(off[stop])
            data = np.fromfile(self.path / f"{col}.bin", np.uint8, hi - lo, offset=lo)
            return _objects([data[off[i] - lo:off[i + 1] - lo].tobytes()
                             for i in range(start, stop)])
        dtype, width = np.dtype(m["dtype"]), int(m["width"])
        a = np.fromfile(self.path / f"{col}.bin", dtype, (stop - start) * width,
                        offset=start * width * dtype.itemsize)
        return a.reshape(-1, width) if m["kind"] == ARRAY else a

    def load(self) -> MemoryShard:
        """The whole copy read into memory."""
        arrays = {}
        for c, m in self.columns.items():
            if m["kind"] == IMAGE:
                arrays[c] = np.fromfile(self.path / f"{c}.bin", np.uint8)
            else:
                arrays[c] = self.read(c, 0, self.rows)
        return MemoryShard(self.rows, self.columns, arrays, dict(self._offsets))


def _column_meta(info: DatasetInfo, col: str) -> dict:
    ci = info.column(col)
    return {"kind": ci.kind, "dtype": "uint8" if ci.kind == IMAGE else ci.dtype,
            "width": int(ci.length) if ci.kind == ARRAY else 1,
            "image_shape": list(ci.image_shape) if ci.image_shape else None}


class _Offsets:
    """An image column's ``<col>.off`` being written: each row's end offset, as rows come."""

    def __init__(self, path: Path):
        self.file, self.end = open(path, "wb"), 0
        self.file.write(np.zeros(1, np.int64).tobytes())

    def add(self, lengths: list[int]) -> None:
        ends = self.end + np.cumsum(np.asarray(lengths, np.int64))
        self.file.write(ends.tobytes())
        self.end = int(ends[-1]) if len(ends) else self.end


def _append(col: str, meta: dict, chunk, files: dict, offsets: dict) -> None:
    """Writes one Arrow column chunk of ``col`` to its open file (an image column: its
    bytes, and its rows' end offsets through ``offsets[col]``)."""
    import pyarrow as pa

    arr = chunk.combine_chunks() if isinstance(chunk, pa.ChunkedArray) else chunk
    if meta["kind"] == IMAGE:
        values = [b"" if v is None else bytes(v) for v in arr.to_pylist()]
        for v in values:
            files[col].write(v)
        offsets[col].add([len(v) for v in values])
        return
    if meta["kind"] == ARRAY:
        arr = arr.flatten()
    files[col].write(memoryview(arr.to_numpy(zero_copy_only=False)
                                .astype(meta["dtype"], copy=False)))


def _batches(store, key: str, columns: list[str]) -> Iterator[Any]:
    """A shard file's rows, one row group at a time, in batches of about
    ``READ_BATCH_BYTES`` (at most ``READ_BATCH_ROWS`` rows).

    The copy's memory is then bounded whatever the shard's size or its rows' width. Each
    row group gets its own reader, decoding on this thread, and pages are read through a
    ``READ_BUFFER_BYTES`` buffer, not a whole column chunk at once. Copied by one reader on
    Arrow's threads in batches of 32,768 rows, a 410 MB shard of 45 row groups (3.2M rows,
    a 32-float array column) took the process's RSS up by 348 MB, growing with every row
    group; this way, +47 MB (and 0.8 s instead of 2.4 s).
    """
    import pyarrow.parquet as pq

    f = pq.ParquetFile(store.fs_path(key), filesystem=store.filesystem,
                       buffer_size=READ_BUFFER_BYTES)
    try:
        for group in range(f.num_row_groups):
            meta = f.metadata.row_group(group)
            per_row = max(1, meta.total_byte_size // max(1, meta.num_rows))
            yield from f.iter_batches(
                batch_size=max(1, min(READ_BATCH_ROWS, READ_BATCH_BYTES // per_row)),
                row_groups=[group], columns=columns, use_threads=False)
    finally:
        f.close()


def _write_copy(store, info: DatasetInfo, split: str, partition: int,
                columns: Sequence[str], tmp: Path) -> int:
    split_info = info.train if split == "train" else info.val
    metas = {c: _column_meta(info, c) for c in columns}
    files = {c: open(tmp / f"{c}.bin", "wb") for c in columns}
    offsets: dict[str, _Offsets] = {}  # written as the rows come, like the values
    rows = 0
    try:
        for c in (c for c, m in metas.items() if m["kind"] == IMAGE):
            offsets[c] = _Offsets(tmp / f"{c}.off")
        for key in split_info.shards[partition]:
            for batch in _batches(store, key, list(columns)):
                for c in columns:
                    _append(c, metas[c], batch.column(c), files, offsets)
                rows += batch.num_rows
    finally:
        for fh in [*files.values(), *(o.file for o in offsets.values())]:
            fh.close()
    meta = {"version": FORMAT_VERSION, "fingerprint": info.fingerprint, "split": split,
            "partition": partition, "shards": list(split_info.shards[partition]),
            "rows": rows, "columns": metas}
    (tmp / META).write_text(json.dumps(meta))
    return rows


def materialize(store, info: DatasetInfo, split: str, partition: int,
                columns: Sequence[str], root: Path) -> tuple[DiskShard, bool]:
    """The local copy of ``split``/``partition``: reused when one matches, else written.

    Returns:
        The copy, and whether an existing copy was reused.
    """
    final = Path(root) / _copy_id(info, split, partition, columns)
    split_info = info.train if split == "train" else info.val
    if (final / META).exists():
        try:
            shard = DiskShard(final)
            if shard.meta.get("fingerprint") == info.fingerprint and \
                    shard.rows == split_info.rows[partition]:
                return shard, True
        except (OSError, ValueError, KeyError):
            pass
        shutil.rmtree(final, ignore_errors=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        rows = _write_copy(store, info, split, partition, columns, tmp)
        if rows != split_info.rows[partition]:
            raise RuntimeError(f"shard {split}/{partition} has {rows} rows, the dataset says "
                               f"{split_info.rows[partition]}")
        try:
            os.rename(tmp, final)
        except OSError:  # another worker of this host finished the same copy first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return DiskShard(final), False
