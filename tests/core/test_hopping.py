"""A model hop: its full state round-trips, workers cache models (LRU), visits are logged."""

from __future__ import annotations

import numpy as np
import pytest

from cerebro.data.shard import Shard
from cerebro.wire import ModelIO, VisitTask
from cerebro.keras import state as state_mod
from cerebro.keras.runtime import ModelCache, WorkerRuntime, _Entry

from .helpers import mlp

N_IN, N_OUT = 20, 3


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, N_IN)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1).astype(np.int64)
    return x, y


def _spec(units: int = 16, lr: float = 1e-2) -> bytes:
    import keras

    model = mlp(units, n_in=N_IN, n_out=N_OUT)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return state_mod.model_to_bytes(model)


def _fresh(spec: bytes):
    model = state_mod.model_from_bytes(spec)
    state_mod.ensure_optimizer_built(model)
    return model


def _assert_same_state(a, b, atol=1e-6):
    for va, vb in zip(a.weights + a.optimizer.variables, b.weights + b.optimizer.variables):
        np.testing.assert_allclose(np.asarray(va.numpy()), np.asarray(vb.numpy()), atol=atol,
                                   rtol=0, err_msg=va.path)


def test_state_round_trip_equals_training_without_a_hop(xy):
    x, y = xy
    spec = _spec()
    halves = [(x[:256], y[:256]), (x[256:], y[256:])]

    straight = _fresh(spec)
    for hx, hy in halves:
        straight.fit(hx, hy, batch_size=32, shuffle=False, verbose=0)

    first = _fresh(spec)
    first.fit(*halves[0], batch_size=32, shuffle=False, verbose=0)
    data = state_mod.state_to_bytes(state_mod.get_state(first, {"epoch": 0}))
    state = state_mod.state_from_bytes(data)
    assert state["counters"] == {"epoch": 0}
    assert len(state["optimizer"]) == len(first.optimizer.variables) > len(first.weights)
    hopped = _fresh(spec)  # a FRESH model on "another worker"
    state_mod.set_state(hopped, state)
    assert int(hopped.optimizer.iterations.numpy()) == 8
    hopped.fit(*halves[1], batch_size=32, shuffle=False, verbose=0)

    assert int(hopped.optimizer.iterations.numpy()) == int(straight.optimizer.iterations.numpy()) == 16
    _assert_same_state(straight, hopped)

    # Control: moving the weights alone (losing Adam's moments) is detectably different.
    weights_only = _fresh(spec)
    for var, value in zip(weights_only.weights, state["weights"]):
        var.assign(value)
    weights_only.fit(*halves[1], batch_size=32, shuffle=False, verbose=0)
    diff = max(float(np.abs(a.numpy() - b.numpy()).max())
               for a, b in zip(straight.weights, weights_only.weights))
    assert diff > 1e-3


def test_state_from_another_architecture_is_refused():
    state = state_mod.get_state(_fresh(_spec(units=16)))
    other = _fresh(_spec(units=16))  # the same architecture: accepted
    state_mod.set_state(other, state)
    import keras

    bigger = keras.Sequential([keras.Input((N_IN,)), keras.layers.Dense(N_OUT)])
    bigger.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="another architecture"):
        state_mod.set_state(bigger, state)


def test_model_cache_is_lru_and_bounded():
    models = {name: _fresh(_spec(units=8)) for name in "abc"}
    size = state_mod.state_nbytes(models["a"])
    assert size > 0
    cache = ModelCache(max_bytes=2 * size)
    for name in "ab":
        cache.put(name, _Entry(models[name], None, size))
    assert cache.get("a").model is models["a"]  # a is now the most recently used
    cache.put("c", _Entry(models["c"], None, size))
    assert "b" not in cache and "a" in cache and "c" in cache
    assert len(cache) == 2 and cache.total_bytes <= cache.max_bytes
    cache.get("a")
    cache.put("b", _Entry(models["b"], None, size))
    assert "c" not in cache and set("ab") == {n for n in "abc" if n in cache}
    cache.drop("a")
    assert "a" not in cache and len(cache) == 1

    tiny = ModelCache(max_bytes=size // 2)  # smaller than one model: keeps only the newest
    tiny.put("a", _Entry(models["a"], None, size))
    assert "a" in tiny
    tiny.put("b", _Entry(models["b"], None, size))
    assert "a" not in tiny and "b" in tiny and len(tiny) == 1


def _task(store, spec_key, model_id, seq, partition, state_key, seed, io):
    return VisitTask(kind="train", model_id=model_id, epoch=0, partition=partition,
                     spec_key=spec_key, state_key=state_key,
                     out_key=store.checkpoint_key(model_id, f"state-{seq:06d}.npz"),
                     batch_size=32, seed=seed, io=io)


@pytest.mark.parametrize("cache_bytes", [1 << 30, 1], ids=["cached", "evicted"])
def test_worker_runtime_hops_equal_plain_keras(xy, store, cache_bytes):
    """m trains on worker 0, then 1, then 0 again, while m2 visits worker 0 in between."""
    import keras

    x, y = xy
    shards = [Shard({"features": x[:256], "label": y[:256].astype(np.float32)}, 256),
              Shard({"features": x[256:], "label": y[256:].astype(np.float32)}, 256)]
    val = Shard({"features": x[:0], "label": np.zeros(0, np.float32)}, 0)
    workers = [WorkerRuntime(store, shard, val, cache_bytes) for shard in shards]
    io = ModelIO(("features",), ("label",), ((N_IN,),), ((1,),))
    spec = _spec()
    for mid in ("m", "m2"):
        store.write_bytes(store.checkpoint_key(mid, "model.keras"), spec)
    key = store.checkpoint_key("m", "model.keras")
    key2 = store.checkpoint_key("m2", "model.keras")

    plan = [(0, 11), (1, 12), (0, 13)]  # (worker, seed) of m's three sub-epochs
    results, state_key = [], None
    for seq, (w, seed) in enumerate(plan, start=1):
        if seq == 3:  # another model takes worker 0 between m's visits
            assert workers[0].run(_task(store, key2, "m2", 1, 0, None, 99, io)).ok
        result = workers[w].run(_task(store, key, "m", seq, w, state_key, seed, io))
        assert result.ok, result.error
        results.append(result)
        state_key = store.checkpoint_key("m", f"state-{seq:06d}.npz")

    assert [r.built for r in results] == [True, True, cache_bytes == 1]
    assert results[2].load_s > 0, "worker 0 held a stale state of m and had to load the new one"

    reference = _fresh(spec)  # the same three sub-epochs, without any hop
    for w, seed in plan:
        order = np.random.default_rng(seed).permutation(256)
        keras.utils.set_random_seed(seed)
        sx, sy = shards[w].arrays["features"], shards[w].arrays["label"]
        reference.fit(sx[order], sy[order].reshape(-1, 1), batch_size=32, shuffle=False, verbose=0)
    final = _fresh(spec)
    state_mod.set_state(final, state_mod.state_from_bytes(store.read_bytes(state_key)))
    _assert_same_state(reference, final)


def test_visit_log_lists_every_partition_once_per_epoch(random_search):
    from cerebro.storage.layout import RunLayout

    result, store, _ = random_search
    layout = RunLayout(store, "random")
    first_partitions = []
    for mid, model in result.models.items():
        log = store.read_json(layout.log_key(mid))
        assert log["model_id"] == mid and log["status"] == "DONE" and log["epochs_done"] == 2
        assert sorted(log["visit_log"]) == ["0", "1"]
        for epoch, partitions in log["visit_log"].items():
            assert sorted(partitions) == [0, 1], (mid, epoch, partitions)
        first_partitions.append(tuple(log["visit_log"][e][0] for e in ("0", "1")))
        assert log["history"] == model.history
        assert log["seq"] == 4 and log["state_key"].endswith("state-000004.npz")
        assert store.exists(log["state_key"])
        states = [n for n in store.listdir(layout.model_dir(mid)) if n.startswith("state-")]
        kept = sorted({"state-000004.npz", log["best_state_key"].rsplit("/", 1)[-1]})
        assert states == kept, "a finished model keeps only its final and best states"
        assert log["best_epoch"] in (0, 1) and log["best_state_key"].endswith(
            f"state-{2 * (log['best_epoch'] + 1):06d}.npz"), "the best epoch's state is its end"
    assert len(set(first_partitions)) > 1, "models must start their epochs on different workers"


def test_a_worker_drops_the_models_its_task_says_finished(xy, store):
    x, y = xy
    shard = Shard({"features": x[:64], "label": y[:64].astype(np.float32)}, 64)
    val = Shard({"features": x[:0], "label": np.zeros(0, np.float32)}, 0)
    worker = WorkerRuntime(store, shard, val, 1 << 30)
    io = ModelIO(("features",), ("label",), ((N_IN,),), ((1,),))
    keys = {}
    for mid in ("m", "m2"):
        keys[mid] = store.checkpoint_key(mid, "model.keras")
        store.write_bytes(keys[mid], _spec())
        assert worker.run(_task(store, keys[mid], mid, 1, 0, None, 1, io)).ok
    assert "m" in worker.cache and "m2" in worker.cache
    import dataclasses

    again = dataclasses.replace(_task(store, keys["m2"], "m2", 2, 0, store.checkpoint_key(
        "m2", "state-000001.npz"), 2, io), forget=("m",))
    result = worker.run(again)
    assert result.ok and not result.built
    assert "m" not in worker.cache and "m2" in worker.cache and len(worker.cache) == 1


def test_a_visit_reports_the_threads_it_used(random_search):
    """Elastic threads on real Spark workers (local[2], one core each): while two models
    train, each visit keeps its worker's one thread; a visit whose host's other worker has
    nothing runnable (the last model alone) runs torch on both cores, and says so."""
    result, _, visits = random_search
    threads = [p["threads"] for p in visits]
    assert len(threads) == 3 * 2 * 4 and set(threads) <= {1, 2}, threads
    assert 1 in threads and 2 in threads, threads
    stats = result.stats
    assert stats["cores"] == 2
    # a visit retuned mid-way counts its time-weighted threads
    assert stats["core_s"] == pytest.approx(sum(p["thread_s"] or p["threads"] * p["compute_s"]
                                                for p in visits))
    assert stats["core_s"] > stats["time_s"]["compute_s"]


def test_a_graceful_shutdown_cancels_no_finished_worker_job(spark, random_search):
    """After a search the workers' jobs end by themselves: cancelling them anyway made Spark
    log 'Failed to cancel job group ... Cannot find active jobs' after every search."""
    from cerebro.backend import SparkBackend
    from cerebro.data.prepare import load_dataset_info

    _, store, _ = random_search
    backend = SparkBackend(spark.sparkContext, num_workers=2, verbose=0)
    pool = backend.start_workers(store, load_dataset_info(store), ["features", "label"])
    cancelled: list[tuple[int, int]] = []
    cancel = pool._cancel_job
    pool._cancel_job = lambda p, gen: (cancelled.append((p, gen)), cancel(p, gen))
    pool.shutdown()
    assert all(not job.is_alive() for job in pool._jobs.values()) and len(pool._jobs) == 2
    assert cancelled == []


@pytest.mark.slow  # ~30 s on a loaded 2-core host (its own search: two workers start)
def test_a_visit_retuned_mid_way_reports_the_threads_it_got(spark, small_mnist, tmp_path):
    """Mid-visit retuning on real Spark workers (local[2], one core each): a big and a tiny
    model start together with one thread each; the tiny one's worker soon has nothing
    runnable (its model needs the partition the big one holds), so the big model's running
    visit is retuned to both cores and reports 2 threads."""
    from cerebro.backend import SparkBackend
    from cerebro.storage import LocalStore
    from cerebro.tune import GridSearch, hp_choice

    from .helpers import estimator_fn

    events: list[tuple[str, dict]] = []
    search = GridSearch(SparkBackend(spark.sparkContext, num_workers=2, verbose=0),
                        LocalStore(str(tmp_path / "store")), estimator_fn(batch_size=4),
                        {"units": hp_choice([2048, 4])}, num_epochs=1,
                        evaluation_metric="loss", validation="is_val", verbose=0,
                        project_name="retune",
                        listeners=[lambda kind, p: events.append((kind, p))
                                   if kind in ("visit_started", "visit_done") else None])
    search.fit(small_mnist[0])
    started = {(p["model_id"], p["kind"], p["partition"]): p["threads"]
               for kind, p in events if kind == "visit_started"}
    retuned = [p for kind, p in events if kind == "visit_done"
               and started[(p["model_id"], p["kind"], p["partition"])] == 1 and p["threads"] == 2]
    assert retuned, events
    assert all(p["thread_s"] <= 2 * p["compute_s"] + 1e-9 for p in retuned)
