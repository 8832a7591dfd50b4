"""Driver scale, simulated: the real hopper, supervisor and scheduler on a ``ScriptedPool``.

Each worker is in-process and answers on a virtual clock, so what is measured is the
driver's own work per visit (scheduling, task building, bookkeeping, log writes to a real
``LocalStore`` on tmpfs, event emission) and the utilisation its decisions give. Each model's
sub-epochs take ``t`` (virtual, +-10% per visit), its evaluations ``t / 5``, where ``t`` is
drawn log-uniformly from 1..``spread`` s (``--spread 10``: tenfold, as a real search's trials
vary; ``--spread 1``: uniform). With ``--hints`` each model is added with a cost hint (its
true ``t`` times a lognormal error, sigma 0.5), as the runner adds a model's FLOPs.

    python benchmarks/driver_scale.py --workers 8,16,32,64,128,256 --models 1000

Writes ``benchmarks/results/driver-scale.json`` and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from typing import Optional

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

    def __init__(self, models: int, epochs: int, parallelism: int,
                 hints: Optional[dict[str, float]] = None) -> None:
        self.left, self.epochs, self.parallelism = models, epochs, parallelism
        self.hints = hints or {}
        self.done = 0

    def refill(self, hopper: ModelHopper) -> None:
        while self.left and len(hopper.active_models) < self.parallelism:
            model_id = f"m{self.left:05d}"
            self.left -= 1
            hopper.add_model(ModelRun(model_id, hopper.layout.spec_key(model_id), IO, 32,
                                      seed_key=model_id), self.epochs,
                             cost_hint=self.hints.get(model_id))

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
             factor: int = 2, spread: float = 10.0, hints: bool = False,
             strict: bool = False) -> dict:
    rng = random.Random(seed)
    ids = [f"m{i:05d}" for i in range(1, models + 1)]
    t = {m: math.exp(rng.uniform(0.0, math.log(spread))) for m in ids}
    hint = {m: t[m] * math.exp(rng.gauss(0.0, 0.5)) for m in ids} if hints else None

    def script(worker, task):
        base = t[task.model_id] * (1.0 if task.kind == "train" else 0.2)
        return Outcome(seconds=base * rng.uniform(0.9, 1.1), metrics={"loss": 0.5})

    store = LocalStore(os.path.join(root, f"w{workers}-s{seed}"))
    pool = ScriptedPool(workers, script, store=store)
    supervisor = PoolSupervisor(lambda: pool, LivenessPolicy(), clock=pool.clock)
    hopper = ModelHopper(supervisor, RunLayout(store, "sim"), Objective("val_loss"), workers,
                         seed=seed, strict_order=strict)
    feed = Feed(models, epochs, parallelism=factor * workers, hints=hint)
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
            "parallelism": factor * workers, "spread": spread, "hints": hints,
            "strict_order": strict,
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
    ap.add_argument("--spread", type=float, default=10.0,
                    help="slowest / fastest model's sub-epoch (1: uniform)")
    ap.add_argument("--hints", action="store_true", help="add models with cost hints")
    ap.add_argument("--strict", action="store_true", help="strict visit order")
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                  "driver-scale.json"))
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="cerebro-sim-", dir="/dev/shm" if os.path.isdir("/dev/shm")
                            else None)
    rows = []
    try:
        for w, factor, seed in ((int(w), int(f), s) for w in args.workers.split(",")
                                for f in args.factors.split(",") for s in range(args.seeds)):
            row = simulate(w, args.models, args.epochs, seed, root, factor, args.spread,
                           args.hints, args.strict)
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
        json.dump({"rows": rows, "sub_epoch_s": [1.0, args.spread], "eval_share": 0.2,
                   "hints": args.hints, "strict_order": args.strict}, f, indent=1)


if __name__ == "__main__":
    main()
