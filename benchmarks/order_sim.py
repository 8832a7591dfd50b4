"""Visit order and ranking, simulated: strict vs work-conserving, lock-step vs longest-first.

The pure ``cerebro.mop.Scheduler`` on a discrete-event clock, fed as the search runner feeds
the hopper: ``parallelism`` models in flight (the runner's default is 2 per worker), a new
one added when one ends. Each model's sub-epoch time is drawn log-uniformly from a tenfold
range (the seed space's trials span 12.6-89.5 s of compute: docs/benchmarks.md, issue 18),
each visit varies +-10%, an evaluation takes a quarter of a sub-epoch. Compared:

* ``strict, lock-step``: the strict rotation, fewest visits first (the old default; strict
  order always ranks so: longest-first measured 1-4 points worse with it);
* ``work-conserving, lock-step`` / ``longest-first``: any partition not yet visited;
* ``... + hints``: longest-first with a cost hint per model before its first measurement
  (its true time times a lognormal error, sigma 0.5: parameters/FLOPs are a rough guide).

    python benchmarks/order_sim.py [--seeds 10] [--out benchmarks/results/order-sim.json]
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from cerebro.mop import ModelDone, Scheduler, VisitKind  # noqa: E402

SCENARIOS = [  # label, workers, models, epochs, models in flight per worker (0: all)
    ("seed quick run: 2 workers, 8 trials x 3 epochs", 2, 8, 3, 2),
    ("seed budget: 2 workers, 20 trials x 5 epochs", 2, 20, 5, 2),
    ("8 workers, 40 trials x 3 epochs", 8, 40, 3, 2),
    ("32 workers, 200 trials x 2 epochs", 32, 200, 2, 2),
    ("8 workers, 40 trials x 3 epochs, all in flight (grid/random's default)", 8, 40, 3, 0),
    ("32 workers, 200 trials x 2 epochs, all in flight", 32, 200, 2, 0),
]
POLICIES = [  # label, strict, measured, hints
    ("strict, lock-step", True, False, False),
    ("work-conserving, lock-step", False, False, False),
    ("work-conserving, longest-first", False, True, False),
    ("work-conserving, longest-first + hints", False, True, True),
]


def simulate(workers: int, models: int, epochs: int, seed: int, strict: bool,
             measured: bool, hints: bool, per_worker: int = 2,
             spread: float = 10.0) -> dict[str, float]:
    """One search; returns its utilisation and makespan (virtual seconds)."""
    rng = random.Random(seed)
    times = [math.exp(rng.uniform(0.0, math.log(spread))) for _ in range(models)]
    noise = [math.exp(rng.gauss(0.0, 0.5)) for _ in range(models)]
    s = Scheduler(workers, seed=seed, strict_order=strict)
    parallelism = parallelism_of(per_worker, workers, models)
    added, now, busy = 0, 0.0, 0.0
    heap: list[tuple[float, int, object, float]] = []
    seq = 0

    def refill() -> None:
        nonlocal added
        while added < models and sum(s.is_active(m) for m in s.models()) < parallelism:
            hint = times[added] * noise[added] if hints else None
            s.add_model(f"m{added:04d}", epochs, cost_hint=hint)
            added += 1

    refill()
    while True:
        for v in s.assign():
            i = int(v.model_id[1:])
            d = times[i] * rng.uniform(0.9, 1.1) * (1.0 if v.kind is VisitKind.TRAIN else 0.25)
            busy += d
            heapq.heappush(heap, (now + d, seq, v, d))
            seq += 1
        if not heap:
            break
        now, _, v, d = heapq.heappop(heap)
        events = s.complete(v, d if measured else None)  # type: ignore[arg-type]
        if any(isinstance(e, ModelDone) for e in events):
            refill()
    assert added == models and not s.has_work()
    ideal = busy / workers
    return {"utilisation": busy / (workers * now), "makespan": now, "ideal": ideal}


def parallelism_of(per_worker: int, workers: int, models: int) -> int:
    return per_worker * workers if per_worker else models


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                  "order-sim.json"))
    args = ap.parse_args()
    rows = []
    for label, workers, models, epochs, per_worker in SCENARIOS:
        print(f"\n{label} (sub-epochs vary 10x), mean over {args.seeds} seeds:")
        for plabel, strict, measured, hints in POLICIES:
            runs = [simulate(workers, models, epochs, seed, strict, measured, hints, per_worker)
                    for seed in range(args.seeds)]
            util = sum(r["utilisation"] for r in runs) / len(runs)
            worst = min(r["utilisation"] for r in runs)
            rows.append({"scenario": label, "workers": workers, "models": models,
                         "epochs": epochs,
                         "in_flight": parallelism_of(per_worker, workers, models),
                         "policy": plabel, "utilisation": util, "worst": worst,
                         "seeds": args.seeds})
            print(f"  {plabel:42s} utilisation {100 * util:5.1f}% (worst {100 * worst:5.1f}%)",
                  flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"rows": rows, "spread": 10.0}, f, indent=1)


if __name__ == "__main__":
    main()
