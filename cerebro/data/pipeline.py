"""Worker side: the per-batch input pipeline of a visit.

A visit reads its partition batch by batch, in its stored dtypes; each batch is then
decoded (image bytes -> uint8 pixels, undecodable rows left out and counted), cast to
float32, reshaped to the model's inputs, its labels encoded, and passed through the
model's ``transformation_fn`` when it has one.

Order of a training visit (seeded by the visit's seed, so reproducible wherever it runs):

- A shard held in memory: one uniform permutation of its rows (a full shuffle).
- A shard streamed from disk: its rows are cut into blocks of consecutive rows; the blocks
  are taken in a seeded random order, ``group_blocks`` at a time into a buffer, and the rows
  of each buffer are permuted (:func:`block_groups`). Every row comes exactly once per visit;
  only one or two buffers are in memory.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from cerebro.data.metadata import ARRAY, IMAGE


def block_groups(rows: int, block_rows: int, group_blocks: int, seed: int):
    """The seeded block shuffle: a list of groups, each ``(ranges, perm)``.

    ``ranges`` are the ``(start, stop)`` row ranges of the group's blocks, in the order they
    are read; ``perm`` permutes the concatenated rows of the group. Concatenated, the groups
    visit every row of ``range(rows)`` exactly once.
    """
    if block_rows < 1 or group_blocks < 1:
        raise ValueError(f"block_rows and group_blocks must be >= 1, got {block_rows}, "
                         f"{group_blocks}")
    rng = np.random.default_rng(seed)
    starts = np.arange(0, rows, block_rows)
    order = rng.permutation(len(starts))
    groups = []
    for g in range(0, len(order), group_blocks):
        ranges = [(int(starts[b]), int(min(starts[b] + block_rows, rows)))
                  for b in order[g:g + group_blocks]]
        n = sum(b - a for a, b in ranges)
        groups.append((ranges, rng.permutation(n)))
    return groups


def block_order(rows: int, block_rows: int, group_blocks: int, seed: int) -> np.ndarray:
    """The row order :func:`block_groups` gives, as one index array (for tests and docs)."""
    parts = []
    for ranges, perm in block_groups(rows, block_rows, group_blocks, seed):
        idx = np.concatenate([np.arange(a, b) for a, b in ranges])
        parts.append(idx[perm])
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def encode_labels(y: np.ndarray, encoding: Optional[dict]) -> np.ndarray:
    """Applies a label encoding decided on the driver (class index -> one-hot/binary)."""
    if not encoding:
        return y
    idx = y.reshape(-1).astype(np.int64)
    if encoding["type"] == "onehot":
        out = np.zeros((idx.shape[0], encoding["num_classes"]), np.float32)
        out[np.arange(idx.shape[0]), idx] = 1.0
        return out
    if encoding["type"] == "binary":
        return idx.astype(np.float32).reshape(-1, 1)
    raise ValueError(f"unknown label encoding {encoding['type']!r}")


class BatchMaker:
    """Turns raw column values of some rows into one model-ready ``(x, y, w)`` batch.

    ``w`` is the batch's float32 sample weights (``io.weight_column``), or ``None``.
    """

    def __init__(self, io: Any, columns: dict[str, dict],
                 transform: Optional[Callable] = None):
        self.io, self.columns, self.transform = io, columns, transform
        self.bad_rows = 0  # undecodable images left out so far
        self.bad_weight = 0.0  # their sample weights

    @property
    def needs_batches(self) -> bool:
        """Whether the data must go through per-batch work (images, a transformation)."""
        return self.transform is not None or any(
            self.columns[c]["kind"] == IMAGE for c in self.io.columns)

    def __call__(self, raw: dict[str, np.ndarray]):
        from cerebro.data.images import decode_batch

        raw = dict(raw)
        for c in self.io.columns:
            if self.columns[c]["kind"] == IMAGE:
                pixels, bad = decode_batch(list(raw[c]), self.columns[c]["image_shape"],
                                           skip_bad=True)
                if bad:
                    self.bad_rows += len(bad)
                    if self.io.weight_column:
                        self.bad_weight += float(raw[self.io.weight_column][bad].sum())
                    keep = np.setdiff1d(np.arange(len(raw[c])), bad)
                    raw = {k: v[keep] for k, v in raw.items()}
                raw[c] = pixels
        io = self.io
        xs = [_float(raw[c]).reshape((-1,) + tuple(s))
              for c, s in zip(io.feature_columns, io.input_shapes)]
        encodings = io.label_encoding or [None] * len(io.label_columns)
        ys = []
        for c, s, enc in zip(io.label_columns, io.label_shapes, encodings):
            y = encode_labels(_float(raw[c]), enc)
            ys.append(y if enc else y.reshape((-1,) + tuple(s)))
        x = xs[0] if len(xs) == 1 else xs
        y = ys[0] if len(ys) == 1 else ys
        if self.transform is not None:
            x, y = self.transform(x, y)
        w = _float(raw[io.weight_column]).reshape(-1) if io.weight_column else None
        return x, y, w


def _float(a: np.ndarray) -> np.ndarray:
    return a if a.dtype == np.float32 else a.astype(np.float32)


class BatchPlan:
    """Where each batch of a visit comes from: row positions, loaded a group at a time.

    A plan is a list of groups ``(loader, n)``: ``loader()`` returns the group's rows (a
    dict of column arrays, already in visit order) and ``n`` is their count. Batch ``i`` is
    positions ``i*batch_size`` up to ``(i+1)*batch_size`` of the concatenated groups; at
    most two groups are held at once (a batch may straddle two).
    """

    def __init__(self, groups: Sequence[tuple[Callable[[], dict], int]], batch_size: int):
        self.groups = list(groups)
        self.batch_size = int(batch_size)
        self.bounds = np.cumsum([0] + [n for _, n in self.groups])
        self.rows = int(self.bounds[-1])
        self._held: dict[int, dict] = {}

    def __len__(self) -> int:
        return -(-self.rows // self.batch_size)

    def _group(self, g: int) -> dict:
        if g not in self._held:
            for old in [k for k in self._held if k < g - 1 or k > g]:
                del self._held[old]
            self._held[g] = self.groups[g][0]()
        return self._held[g]

    def rows_of(self, i: int) -> dict[str, np.ndarray]:
        lo, hi = i * self.batch_size, min((i + 1) * self.batch_size, self.rows)
        parts: dict[str, list] = {}
        g = int(np.searchsorted(self.bounds, lo, side="right") - 1)
        while lo < hi:
            start, stop = int(self.bounds[g]), int(self.bounds[g + 1])
            take = min(hi, stop)
            for c, v in self._group(g).items():
                parts.setdefault(c, []).append(v[lo - start:take - start])
            lo, g = take, g + 1
        return {c: v[0] if len(v) == 1 else np.concatenate(v) for c, v in parts.items()}


def plan_for(shard: Any, columns: Sequence[str], batch_size: int, seed: Optional[int],
             buffer_rows: int, group_blocks: int = 16) -> BatchPlan:
    """The batches of one visit over ``shard`` (``seed=None``: in row order, for eval)."""
    if seed is None:
        step = max(batch_size, buffer_rows)
        groups = [(_range_loader(shard, columns, [(a, min(a + step, shard.rows))], None),
                   min(step, shard.rows - a)) for a in range(0, shard.rows, step)]
    elif shard.in_memory:  # gathered per batch: no permuted copy of the whole shard
        order = np.random.default_rng(seed).permutation(shard.rows)
        return _GatherPlan(shard, columns, order, batch_size)
    else:
        block_rows = max(1, buffer_rows // group_blocks)
        groups = [(_range_loader(shard, columns, ranges, perm), len(perm))
                  for ranges, perm in block_groups(shard.rows, block_rows, group_blocks, seed)]
    return BatchPlan(groups, batch_size)


class _GatherPlan(BatchPlan):
    """A shard in memory, fully shuffled: each batch gathered by its rows' indices."""

    def __init__(self, shard: Any, columns: Sequence[str], order: np.ndarray, batch_size: int):
        super().__init__([], batch_size)
        self.shard, self.cols, self.order, self.rows = shard, list(columns), order, len(order)

    def rows_of(self, i: int) -> dict[str, np.ndarray]:
        idx = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        return {c: self.shard.take(c, idx) for c in self.cols}


def _range_loader(shard: Any, columns: Sequence[str], ranges, perm):
    def load() -> dict:
        out = {}
        for c in columns:
            parts = [shard.read(c, a, b) for a, b in ranges]
            v = parts[0] if len(parts) == 1 else np.concatenate(parts)
            out[c] = v if perm is None else v[perm]
        return out

    return load


def keras_batches(plan: BatchPlan, make: BatchMaker):
    """A ``keras.utils.PyDataset`` over the plan's batches."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __len__(self) -> int:
            return len(plan)

        def __getitem__(self, i: int):
            x, y, w = make(plan.rows_of(i))
            return (x, y) if w is None else (x, y, w)

    return Batches()


def whole(shard: Any, columns: Sequence[str], seed: Optional[int]) -> dict[str, np.ndarray]:
    """All rows of an in-memory shard, permuted by ``seed`` (None: in order)."""
    if seed is None:
        return {c: shard.read(c, 0, shard.rows) for c in columns}
    order = np.random.default_rng(seed).permutation(shard.rows)
    return {c: shard.take(c, order) for c in columns}


__all__ = ["ARRAY", "BatchMaker", "BatchPlan", "block_groups", "block_order", "encode_labels",
           "keras_batches", "plan_for", "whole"]
