"""One shard's Parquet files -> float32 numpy arrays in memory (image columns: their encoded
bytes, decoded by :meth:`Shard.batch`).

Workers no longer use this loader: they read a local copy of their partition batch by batch
(``cerebro.data.local``, ``cerebro.data.pipeline``). It stays as the simple reference reader
that tests compare preparation against."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from cerebro.data.metadata import ARRAY, IMAGE, DatasetInfo


@dataclasses.dataclass
class Shard:
    """The columns of one partition, each an array of shape ``(rows, length)`` or ``(rows,)``."""

    arrays: dict[str, np.ndarray]
    rows: int

    in_memory = True  # the interface of cerebro.data.local's shards, for WorkerRuntime

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self.arrays.values()))

    @property
    def columns(self) -> dict[str, dict]:
        """Per column: its kind, dtype and width (as ``cerebro.data.local`` describes them)."""
        return {c: {"kind": ARRAY if a.ndim == 2 else "scalar", "dtype": str(a.dtype),
                    "width": a.shape[1] if a.ndim == 2 else 1, "image_shape": None}
                for c, a in self.arrays.items()}

    def take(self, col: str, idx: np.ndarray) -> np.ndarray:
        return self.arrays[col][idx]

    def read(self, col: str, start: int, stop: int) -> np.ndarray:
        return self.arrays[col][start:stop]

    def batch(self, columns: Sequence[str], shapes: Sequence[tuple[int, ...]], order=None):
        """Returns the named columns reshaped to ``(rows, *shape)``, optionally reordered.

        One column gives an array; several give a list (Keras multi-input/-output order).
        """
        out = []
        for col, shape in zip(columns, shapes):
            a = self.arrays[col]
            if a.dtype == object:  # encoded images: decoded here, to (rows, h, w, c) uint8
                from cerebro.data.images import decode_batch

                a = decode_batch(list(a), shape)[0]
            a = a.reshape((a.shape[0],) + tuple(shape))
            out.append(a if order is None else a[order])
        return out[0] if len(out) == 1 else out


def _column_to_numpy(chunked, kind: str, length: int) -> np.ndarray:
    import pyarrow as pa

    arr = chunked.combine_chunks() if isinstance(chunked, pa.ChunkedArray) else chunked
    if kind == IMAGE:
        out = np.empty(len(arr), dtype=object)
        out[:] = arr.to_pylist()
        return out
    if kind == ARRAY:
        values = arr.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        return values.reshape(len(arr), length)
    return arr.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)


# Batch size of the streaming read: Arrow holds at most one such batch besides the arrays.
READ_BATCH_ROWS = 32_768


def load_shard(store, info: DatasetInfo, split: str, partition: int, columns: Sequence[str]) -> Shard:
    """Reads partition ``partition`` of ``split`` ("train" or "val") into memory.

    Only that partition's files are read; nothing else of the dataset is touched. The float32
    arrays are allocated once, at their final size (row counts come from the Parquet
    footers), and filled batch by batch, so the load never holds more than the shard plus one
    batch of ``READ_BATCH_ROWS`` decoded rows.
    """
    import pyarrow.parquet as pq

    split_info = info.train if split == "train" else info.val
    fs = store.filesystem
    files = [pq.ParquetFile(store.fs_path(k), filesystem=fs) for k in split_info.shards[partition]]
    rows = int(sum(f.metadata.num_rows for f in files))
    infos = {c: info.column(c) for c in columns}
    arrays = {c: np.empty((rows,), object) if ci.kind == IMAGE else
              np.empty((rows, ci.length) if ci.kind == ARRAY else (rows,), np.float32)
              for c, ci in infos.items()}
    at = 0
    for f in files:
        for batch in f.iter_batches(batch_size=READ_BATCH_ROWS, columns=list(columns)):
            n = batch.num_rows
            for c, ci in infos.items():
                arrays[c][at:at + n] = _column_to_numpy(batch.column(c), ci.kind, ci.length)
            at += n
        f.close()
    if at != rows:
        raise RuntimeError(f"shard {split}/{partition} has {at} rows, its footers say {rows}")
    return Shard(arrays=arrays, rows=rows)
