"""Worker side: keeps models built and compiled, and runs one visit (train or eval) at a time.

A worker builds each model once (from its ``.keras`` spec) and keeps it in an LRU cache
bounded by memory. A hop then only loads the model's *state*, and not even that when the
worker already holds the latest state (it trained the previous sub-epoch itself).
"""

from __future__ import annotations

import collections
import gc
import math
import time
import traceback
from typing import Optional

import numpy as np

from cerebro._logging import get_logger
from cerebro.data.shard import Shard
from cerebro.wire import VisitResult, VisitTask
from cerebro.keras import state as state_mod

log = get_logger("worker")

CUSTOM_OBJECTS = "custom_objects.pkl"  # beside a model's spec, when it has custom objects


class _Entry:
    __slots__ = ("model", "state_key", "nbytes")

    def __init__(self, model, state_key, nbytes):
        self.model, self.state_key, self.nbytes = model, state_key, nbytes


class ModelCache:
    """LRU cache of built models, bounded by an estimate of their memory."""

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self._entries: "collections.OrderedDict[str, _Entry]" = collections.OrderedDict()

    def get(self, model_id: str) -> Optional[_Entry]:
        entry = self._entries.get(model_id)
        if entry is not None:
            self._entries.move_to_end(model_id)
        return entry

    def put(self, model_id: str, entry: _Entry) -> None:
        self._entries[model_id] = entry
        self._entries.move_to_end(model_id)
        self._evict(keep=model_id)

    def drop(self, model_id: str) -> None:
        if self._entries.pop(model_id, None) is not None:
            gc.collect()

    def _evict(self, keep: str) -> None:
        evicted = False
        while self.total_bytes > self.max_bytes and len(self._entries) > 1:
            oldest = next(iter(self._entries))
            if oldest == keep:
                break
            self._entries.pop(oldest)
            evicted = True
            log.debug("evicted model %s from the worker cache", oldest)
        if evicted:
            gc.collect()

    @property
    def total_bytes(self) -> int:
        return sum(e.nbytes for e in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, model_id: str) -> bool:
        return model_id in self._entries


def _encode_labels(y: np.ndarray, encoding: Optional[dict]) -> np.ndarray:
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


# Training input: below this size a permuted copy of the shard is the fastest input (Keras
# then slices contiguous batches, ~10% faster on a small CNN); above it, the copy's memory
# (the shard's size again, per visit) weighs more, and batches are gathered one at a time.
COPY_LIMIT_BYTES = 32 * 1024 * 1024


def _take(a, idx):
    return [x[idx] for x in a] if isinstance(a, list) else a[idx]


def _permuted_batches(x, y, order: np.ndarray, batch_size: int):
    """``x[order], y[order]`` in batches, for ``fit(..., shuffle=False)``.

    The same batches, in the same order, as fitting the permuted arrays, but gathered one
    batch at a time: no permuted copy of the whole shard (its size again, per visit).
    """
    import keras

    class PermutedBatches(keras.utils.PyDataset):
        def __len__(self) -> int:
            return -(-len(order) // batch_size)

        def __getitem__(self, i: int):
            idx = order[i * batch_size:(i + 1) * batch_size]
            return _take(x, idx), _take(y, idx)

    return PermutedBatches()


class WorkerRuntime:
    """Runs visits for one worker over its two shards (train and val)."""

    def __init__(self, store, train: Shard, val: Shard, cache_bytes: int):
        self.store = store
        self.shards = {"train": train, "eval": val}
        self.cache = ModelCache(cache_bytes)
        self._build_s = 0.0

    def _custom_objects(self, spec_key: str) -> Optional[dict]:
        """The estimator's ``custom_objects``, shipped beside its spec (cloudpickled)."""
        key = spec_key.rsplit("/", 1)[0] + "/" + CUSTOM_OBJECTS
        if not self.store.exists(key):
            return None
        import cloudpickle

        return cloudpickle.loads(self.store.read_bytes(key))

    def _model(self, task: VisitTask):
        entry = self.cache.get(task.model_id)
        built = False
        load_s = 0.0
        if entry is None:
            t0 = time.perf_counter()
            spec = self.store.read_bytes(task.spec_key)
            model = state_mod.model_from_bytes(spec, self._custom_objects(task.spec_key))
            state_mod.ensure_optimizer_built(model)
            entry = _Entry(model, None, state_mod.state_nbytes(model))
            self.cache.put(task.model_id, entry)
            built = True
            self._build_s += time.perf_counter() - t0
        if entry.state_key != task.state_key:
            t0 = time.perf_counter()
            if task.state_key is None:
                # Back to the spec's initial weights: rebuild (rare: a restart of a trial).
                self.cache.drop(task.model_id)
                return self._model(task)
            state = state_mod.state_from_bytes(self.store.read_bytes(task.state_key))
            state_mod.set_state(entry.model, state)
            entry.state_key = task.state_key
            load_s = time.perf_counter() - t0
        return entry, built, load_s

    def _xy(self, task: VisitTask, shard: Shard, order):
        io = task.io
        x = shard.batch(io.feature_columns, io.input_shapes, order)
        ys = [
            _encode_labels(shard.arrays[c][order] if order is not None else shard.arrays[c], enc)
            for c, enc in zip(io.label_columns, io.label_encoding or [None] * len(io.label_columns))
        ]
        ys = [y.reshape((y.shape[0],) + tuple(s)) if not enc else y
              for y, s, enc in zip(ys, io.label_shapes, io.label_encoding or [None] * len(ys))]
        return x, (ys[0] if len(ys) == 1 else ys)

    def run(self, task: VisitTask) -> VisitResult:
        """Runs one visit; never raises (errors come back in the result)."""
        self._build_s = 0.0
        try:
            result = self._run(task)
            result.build_s = self._build_s
            return result
        except Exception as e:  # noqa: BLE001 - reported to the driver, which decides
            self.cache.drop(task.model_id)
            return VisitResult(ok=False, error=f"{type(e).__name__}: {e}",
                               traceback=traceback.format_exc())

    def _run(self, task: VisitTask) -> VisitResult:
        import keras

        if task.fail_injection == "raise":
            raise RuntimeError(f"injected failure in {task.model_id}")
        entry, built, load_s = self._model(task)
        shard = self.shards[task.kind]
        if shard.rows == 0:
            return VisitResult(ok=True, samples=0, load_s=load_s, built=built)
        model = entry.model
        if task.kind == "train" and task.learning_rate is not None:
            model.optimizer.learning_rate = task.learning_rate  # assigns its variable
        t0 = time.perf_counter()
        if task.kind == "train":
            rng = np.random.default_rng(task.seed)
            order = rng.permutation(shard.rows)
            keras.utils.set_random_seed(task.seed % (2**31))
            if shard.nbytes <= COPY_LIMIT_BYTES:
                x, y = self._xy(task, shard, order)
                hist = model.fit(x, y, batch_size=task.batch_size, epochs=1, shuffle=False,
                                 verbose=0)
            else:  # the same batches, without a permuted copy of the shard
                x, y = self._xy(task, shard, None)
                hist = model.fit(_permuted_batches(x, y, order, task.batch_size), epochs=1,
                                 shuffle=False, verbose=0)
            metrics = {k: float(v[-1]) for k, v in hist.history.items()}
        else:
            x, y = self._xy(task, shard, None)
            metrics = model.evaluate(x, y, batch_size=task.batch_size, verbose=0, return_dict=True)
            metrics = {k: float(v) for k, v in metrics.items()}
        compute_s = time.perf_counter() - t0
        if not all(math.isfinite(v) for v in metrics.values()):
            self.cache.drop(task.model_id)
            bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
            raise FloatingPointError(f"non-finite metrics in {task.kind} of {task.model_id}: {bad}")
        save_s = 0.0
        if task.kind == "train":
            t1 = time.perf_counter()
            data = state_mod.state_to_bytes(state_mod.get_state(
                model, {"epoch": task.epoch, "partition": task.partition}))
            self.store.write_bytes(task.out_key, data)
            entry.state_key = task.out_key
            save_s = time.perf_counter() - t1
        return VisitResult(ok=True, metrics=metrics, samples=shard.rows, load_s=load_s,
                           compute_s=compute_s, save_s=save_s, built=built)
