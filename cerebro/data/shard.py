"""Worker side: one shard's Parquet files -> float32 numpy arrays, loaded once and kept."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from cerebro.data.metadata import ARRAY, DatasetInfo


@dataclasses.dataclass
class Shard:
    """The columns of one partition, each an array of shape ``(rows, length)`` or ``(rows,)``."""

    arrays: dict[str, np.ndarray]
    rows: int

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self.arrays.values()))

    def batch(self, columns: Sequence[str], shapes: Sequence[tuple[int, ...]], order=None):
        """Returns the named columns reshaped to ``(rows, *shape)``, optionally reordered.

        One column gives an array; several give a list (Keras multi-input/-output order).
        """
        out = []
        for col, shape in zip(columns, shapes):
            a = self.arrays[col]
            a = a.reshape((a.shape[0],) + tuple(shape))
            out.append(a if order is None else a[order])
        return out[0] if len(out) == 1 else out


def _column_to_numpy(chunked, kind: str, length: int) -> np.ndarray:
    import pyarrow as pa

    arr = chunked.combine_chunks() if isinstance(chunked, pa.ChunkedArray) else chunked
    if kind == ARRAY:
        values = arr.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        return values.reshape(len(arr), length)
    return arr.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)


def load_shard(store, info: DatasetInfo, split: str, partition: int, columns: Sequence[str]) -> Shard:
    """Reads partition ``partition`` of ``split`` ("train" or "val") into memory.

    Only that partition's files are read; nothing else of the dataset is touched.
    """
    import pyarrow.parquet as pq

    split_info = info.train if split == "train" else info.val
    files = split_info.shards[partition]
    fs = store.filesystem
    tables = [pq.read_table(store.fs_path(k), filesystem=fs, columns=list(columns)) for k in files]
    arrays: dict[str, np.ndarray] = {}
    rows = int(sum(t.num_rows for t in tables))
    for c in columns:
        ci = info.column(c)
        if tables:
            parts = [_column_to_numpy(t.column(c), ci.kind, ci.length) for t in tables]
            arrays[c] = np.ascontiguousarray(np.concatenate(parts)) if len(parts) > 1 else parts[0]
        else:
            shape = (0, ci.length) if ci.kind == ARRAY else (0,)
            arrays[c] = np.zeros(shape, np.float32)
    return Shard(arrays=arrays, rows=rows)
