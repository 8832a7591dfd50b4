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
from typing import Any, Optional

from cerebro._logging import get_logger
from cerebro._upstream import weighted_metric_names
from cerebro.data import pipeline
from cerebro.wire import VisitResult, VisitTask
from cerebro.keras import state as state_mod

log = get_logger("worker")


class _Entry:
    __slots__ = ("model", "state_key", "nbytes")

    def __init__(self, model: Any, state_key: Any, nbytes: Any) -> None:
        self.model, self.state_key, self.nbytes = model, state_key, nbytes


class ModelCache:
    """LRU cache of built models, bounded by an estimate of their memory."""

    def __init__(self, max_bytes: int) -> None:
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


# Kept for cerebro.keras.inference, which imports it from here.
_encode_labels = pipeline.encode_labels

# Training input: below this size (as float32) a permuted copy of a shard held in memory is
# the fastest input (Keras then slices contiguous batches, ~10% faster on a small CNN); above
# it, and for images, a transformation_fn or a streamed shard, batches are made one at a time
# (cerebro.data.pipeline).
COPY_LIMIT_BYTES = 32 * 1024 * 1024
# Rows a streamed shard reads into its shuffle buffer at most (besides the byte budget).
DEFAULT_BUFFER_BYTES = 64 * 1024 * 1024


class WorkerRuntime:
    """Runs visits for one worker over its two shards (train and val)."""

    def __init__(self, store: Any, train: Any, val: Any, cache_bytes: int,
                 buffer_bytes: int = DEFAULT_BUFFER_BYTES) -> None:
        """``train``/``val``: shards of ``cerebro.data.local`` (in memory or on disk);
        ``buffer_bytes``: the shuffle buffer of a streamed shard."""
        self.store = store
        self.shards = {"train": train, "eval": val}
        self.cache = ModelCache(cache_bytes)
        self.buffer_bytes = int(buffer_bytes)
        self._transforms: dict[str, object] = {}
        self._build_s = 0.0

    def _transform(self, key: Optional[str]) -> Any:
        """The model's ``transformation_fn``, loaded once per key (one key per model)."""
        if key is None:
            return None
        if key not in self._transforms:
            import cloudpickle

            self._transforms[key] = cloudpickle.loads(self.store.read_bytes(key))
        return self._transforms[key]

    def _fit_input(self, task: VisitTask, shard: Any, make: Any, seed: Optional[int]) -> Any:
        """``(x, y, w)`` arrays for small in-memory shards, else a PyDataset of batches
        (``y`` and ``w`` then ``None``); ``w``: the sample weights, or ``None``."""
        cols = list(task.io.columns)
        float_bytes = 4 * shard.rows * sum(int(shard.columns[c].get("width", 1)) for c in cols)
        if shard.in_memory and not make.needs_batches and float_bytes <= COPY_LIMIT_BYTES:
            return make(pipeline.whole(shard, cols, seed))
        row_bytes = max(1, shard.nbytes // max(1, shard.rows))
        buffer_rows = max(task.batch_size, self.buffer_bytes // row_bytes)
        plan = pipeline.plan_for(shard, cols, task.batch_size, seed, buffer_rows)
        return pipeline.keras_batches(plan, make), None, None

    def _custom_objects(self, key: Optional[str]) -> Optional[dict[str, Any]]:
        """The estimator's ``custom_objects``, shipped beside its spec (cloudpickled)."""
        if key is None or not self.store.exists(key):
            return None
        import cloudpickle

        objects: dict[str, Any] = cloudpickle.loads(self.store.read_bytes(key))
        return objects

    def _model(self, task: VisitTask) -> Any:
        entry = self.cache.get(task.model_id)
        built = False
        load_s = 0.0
        if entry is None:
            t0 = time.perf_counter()
            spec = self.store.read_bytes(task.spec_key)
            model = state_mod.model_from_bytes(spec, self._custom_objects(task.custom_objects_key))
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
        make = pipeline.BatchMaker(task.io, shard.columns, self._transform(task.transform_key))
        if task.kind == "train" and task.learning_rate is not None:
            model.optimizer.learning_rate = task.learning_rate  # assigns its variable
        t0 = time.perf_counter()
        if task.kind == "train":
            keras.utils.set_random_seed(task.seed % (2**31))
            x, y, w = self._fit_input(task, shard, make, task.seed)
            hist = model.fit(x, y, sample_weight=w,
                             batch_size=None if y is None else task.batch_size, epochs=1,
                             shuffle=False, verbose=0)
            metrics = {k: float(v[-1]) for k, v in hist.history.items()}
        else:
            x, y, w = self._fit_input(task, shard, make, None)
            metrics = model.evaluate(x, y, sample_weight=w,
                                     batch_size=None if y is None else task.batch_size,
                                     verbose=0, return_dict=True)
            metrics = {k: float(v) for k, v in metrics.items()}
        if make.bad_rows:
            log.warning("%s visit of %s (partition %d): skipped %d row(s) whose image does not "
                        "decode", task.kind, task.model_id, task.partition, make.bad_rows)
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
        weight_sum, weighted = self._weights(task, shard, make, model)
        return VisitResult(ok=True, metrics=metrics, samples=shard.rows - make.bad_rows,
                           weight_sum=weight_sum, weighted=weighted, load_s=load_s,
                           compute_s=compute_s, save_s=save_s, built=built)

    @staticmethod
    def _weights(task: VisitTask, shard: Any, make: Any, model: Any) -> tuple[float, tuple[str, ...]]:
        """The visit's sum of sample weights (rows left out excepted) and the names of the
        metrics Keras weighed by them (``compile(weighted_metrics=...)``)."""
        col = task.io.weight_column
        if not col:
            return 0.0, ()
        total = float(shard.read(col, 0, shard.rows).sum(dtype="float64")) - make.bad_weight
        return total, tuple(sorted(weighted_metric_names(model)))
