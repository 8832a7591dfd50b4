"""Driver scale, simulated: the real hopper, supervisor and scheduler on a ``ScriptedPool``.

Each worker is in-process and answers on a virtual clock, so what is measured is the
driver's own work per visit (scheduling, task building, bookkeeping, log writes to a real
``LocalStore`` on tmpfs, event emission) and the utilisation its decisions give. Sub-epochs
take 1 s (virtual, +-10%), evaluations 0.2 s.

    python benchmarks/driver_scale.py --workers 8,16,32,64,128,256 --models 1000

Writes ``benchmarks/results/driver-scale.json`` and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from cerebro.backend.scripted import Outcome, ScriptedPool  # noqa: E402
from cerebro.engine import LivenessPolicy, ModelHopper, ModelRun, Objective, PoolSupervisor  # noqa: E402
from cerebro.storage import LocalStore  # noqa: E402
from cerebro.storage.layout import RunLayout  # noqa: E402
from cerebro.wire import ModelIO  # noqa: E402

IO = ModelIO(("x",), ("y",), ((8,),), ((1,),))


class Feed:
    """Adds ``models`` models, keeping ``parallelism`` of them active."""

    def __init__(self, models: int, epochs: int, parallelism: int) -> None:
        self.left, self.epochs, self.parallelism = models, epochs, parallelism
        self.done = 0

    def refill(self, hopper: ModelHopper) -> None:
        while self.left and len(hopper.active_models) < self.parallelism:
            model_id = f"m{self.left:05d}"
            self.left -= 1
            hopper.add_model(ModelRun(model_id, hopper.layout.spec_key(model_id), IO, 32,
                                      seed_key=model_id), self.epochs)

    def on_epoch_end(self, hopper, model_id, epoch, metrics) -> None:
        pass

    def on_model_done(self, hopper, model_id) -> None:
        self.done += 1
        self.refill(hopper)

    def on_model_failed(self, hopper, model_id, error, reason) -> None:
        self.refill(hopper)

    def add_manual(self, hopper, params) -> str:
        raise NotImplementedError


def simulate(workers: int, models: int, epochs: int, seed: int, root: str,
             factor: int = 2) -> dict:
    rng = random.Random(seed)

    def script(worker, task):
        base = 1.0 if task.kind == "train" else 0.2
        return Outcome(seconds=base * rng.uniform(0.9, 1.1), metrics={"loss": 0.5})

    store = LocalStore(os.path.join(root, f"w{workers}-s{seed}"))
    pool = ScriptedPool(workers, script, store=store)
    supervisor = PoolSupervisor(lambda: pool, LivenessPolicy(), clock=pool.clock)
    hopper = ModelHopper(supervisor, RunLayout(store, "sim"), Objective("val_loss"), workers,
                         seed=seed)
    feed = Feed(models, epochs, parallelism=factor * workers)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    stats = hopper.run(feed)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    visits = len(pool.tasks)
    busy = sum(end - start for _, _, _, start, end in stats.timeline)
    makespan = max(end for *_, end in stats.timeline)
    # the search's end drains: fewer models than workers remain. Until the last model
    # starts, utilisation is the scheduler's alone.
    last = min(start for _, mid, _, start, _ in stats.timeline if mid == "m00001")
    steady = sum(max(0.0, min(end, last) - start) for _, _, _, start, end in stats.timeline)
    assert feed.done == models, (feed.done, models)
    return {"workers": workers, "models": models, "epochs": epochs, "seed": seed,
            "parallelism": factor * workers,
            "visits": visits, "driver_ms_per_visit": 1000 * wall / visits,
            "driver_cpu_ms_per_visit": 1000 * cpu / visits,
            "utilisation": busy / (workers * makespan), "virtual_makespan_s": makespan,
            "steady_utilisation": steady / (workers * last) if last else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="8,16,32,64,128,256")
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--factors", default="2,3",
                    help="models in flight per worker (the runner's default is 2)")
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                  "driver-scale.json"))
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="cerebro-sim-", dir="/dev/shm" if os.path.isdir("/dev/shm")
                            else None)
    rows = []
    try:
        for w, factor, seed in ((int(w), int(f), s) for w in args.workers.split(",")
                                for f in args.factors.split(",") for s in range(args.seeds)):
            row = simulate(w, args.models, args.epochs, seed, root, factor)
            rows.append(row)
            print(f"{w:4d} workers x {args.models} models, {factor}x in flight: "
                  f"{row['visits']:7d} visits, "
                  f"utilisation {100 * row['utilisation']:.1f}% "
                  f"(until the last model starts {100 * row['steady_utilisation']:.1f}%), driver "
                  f"{row['driver_ms_per_visit']:.3f} ms/visit "
                  f"(cpu {row['driver_cpu_ms_per_visit']:.3f})", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"rows": rows, "sub_epoch_s": 1.0, "eval_s": 0.2}, f, indent=1)


if __name__ == "__main__":
    main()
