"""Proposal quality without training: real oracles, a synthetic objective, simulated time.

The space is the one the seed's graph registers (``ImageInput -> Normalization -> ConvBlock
-> ClassificationHead``, ``learning_rate`` fixed, nothing narrowed). The objective is a
smooth made-up "val accuracy after 3 epochs at lr 1e-4" with noise: ``sgd`` stays near
chance, separable convolutions and one block lose a little, 64 filters is the sweet spot,
light dropout helps; a trial's simulated cost grows with its convolutions' multiply-adds
(no pooling: 4x per later block). ``P`` slots run trials; when one finishes, its score is
reported (``update_trial`` + ``end_trial``) and the oracle is asked again, as the search
runner does. Compared: sequential (P=1) vs parallel (P=4), stock upstream oracles vs
``cerebro.nas.proposals``; best score after N finished trials over seeds.

    python benchmarks/proposals_sim.py --seeds 10 --trials 8,16 [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import sys
import tempfile
import zlib

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("KERAS_BACKEND", "torch")

FILTERS = [16, 32, 64, 128, 256, 512]
SYSTEMS = [  # label, tuner, proposals, parallel slots
    ("AutoKeras as it runs: greedy, sequential, defaults first, no exploration",
     "autokeras", "stock", 1),
    ("greedy, sequential, stock", "greedy", "stock", 1),
    ("greedy, parallel 4, stock", "greedy", "stock", 4),
    ("greedy, parallel 4, parallel-aware", "greedy", "parallel", 4),
    ("greedy, sequential, parallel-aware", "greedy", "parallel", 1),
    ("bayesian, sequential, stock", "bayesian", "stock", 1),
    ("bayesian, parallel 4, stock", "bayesian", "stock", 4),
    ("bayesian, parallel 4, parallel-aware", "bayesian", "parallel", 4),
]


def seed_space():
    """The seed graph's hyperparameters with their AutoKeras defaults (lr fixed)."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    hp.Fixed("learning_rate", 0.0001)
    hp.Choice("conv_block_1/kernel_size", [3, 5, 7], default=3)
    hp.Boolean("conv_block_1/separable", default=False)
    hp.Boolean("conv_block_1/max_pooling", default=True)
    hp.Choice("conv_block_1/num_blocks", [1, 2, 3], default=2)
    hp.Choice("conv_block_1/num_layers", [1, 2], default=2)
    for i in range(3):
        for j in range(2):
            hp.Choice(f"conv_block_1/filters_{i}_{j}", FILTERS, default=32)
    hp.Choice("conv_block_1/dropout", [0.0, 0.25, 0.5], default=0.0)
    hp.Choice("classification_head_1/spatial_reduction_1/reduction_type",
              ["flatten", "global_max", "global_avg"], default="flatten")
    hp.Choice("classification_head_1/dropout", [0.0, 0.25, 0.5], default=0.0)
    hp.Choice("optimizer", ["adam", "sgd", "adam_weight_decay"], default="adam")
    return hp


def _filters(v: dict) -> list[tuple[int, int]]:
    nb, nl = v["conv_block_1/num_blocks"], v["conv_block_1/num_layers"]
    return [(b, v[f"conv_block_1/filters_{b}_{j}"]) for b in range(nb) for j in range(nl)]


def objective(v: dict, seed: int) -> tuple[float, float]:
    """(val accuracy, cost in simulated seconds) of a trial's values."""
    p = "conv_block_1/"
    acc = 0.975
    acc += {"adam": 0.0, "adam_weight_decay": -0.004, "sgd": -0.78}[v["optimizer"]]
    acc += {1: -0.02, 2: 0.0, 3: -0.004}[v[p + "num_blocks"]]
    acc += 0.0 if v[p + "num_layers"] == 2 else -0.008
    acc += -0.025 if v[p + "separable"] else 0.0
    acc += 0.0 if v[p + "max_pooling"] else -0.012
    acc += {3: 0.0, 5: 0.003, 7: -0.006}[v[p + "kernel_size"]]
    acc += {0.0: 0.0, 0.25: 0.003, 0.5: -0.012}[v[p + "dropout"]]
    acc += {0.0: 0.0, 0.25: 0.004, 0.5: -0.003}[v["classification_head_1/dropout"]]
    acc += {"flatten": 0.0, "global_max": -0.03, "global_avg": -0.06}[
        v["classification_head_1/spatial_reduction_1/reduction_type"]]
    caps = [math.log2(f / 32) for _, f in _filters(v)]
    c = sum(caps) / len(caps)
    acc += 0.008 * c - 0.006 * c * c
    noise = np.random.default_rng(zlib.crc32(json.dumps(v, sort_keys=True).encode()) + seed)
    acc = float(np.clip(acc + noise.normal(0, 0.004), 0.1, 0.995))
    # cost: multiply-adds of the convolutions (defaults ~ 10 s for 3 epochs)
    k2, f_in, macs = v[p + "kernel_size"] ** 2, 1, 0.0
    sep = 0.25 if v[p + "separable"] else 1.0
    for b, f in _filters(v):
        side = 28 // (2 ** b) if v[p + "max_pooling"] else 28
        macs += side * side * f_in * f * k2 * sep
        f_in = f
    macs_default = 28 * 28 * 32 * 9 + 28 * 28 * 32 * 32 * 9 + 2 * 14 * 14 * 32 * 32 * 9
    cost = 2.0 + 8.0 * macs / macs_default
    return acc, cost


def simulate(tuner: str, proposals: str, slots: int, n_trials: int, seed: int) -> list[dict]:
    """Runs one search; returns the finished trials in finishing order."""
    import keras_tuner as kt

    from cerebro.nas.oracles import make_oracle

    np.random.seed(seed)  # AutoKeras's greedy draws its groups from numpy's global state
    kw = {"exploration": 0.3} if tuner == "greedy" else {}
    if tuner == "autokeras":  # its first trial is the defaults (its space starts empty)
        defaults = {h.name: h.default for h in seed_space().space}
        tuner, kw = "greedy", {"exploration": 0.0, "initial_hps": [defaults]}
    oracle = make_oracle(tuner, kt.Objective("val_accuracy", "max"), n_trials, seed_space(),
                         seed=seed, max_epochs=None, proposals=proposals, **kw)
    with tempfile.TemporaryDirectory() as tmp:
        kt.engine.base_tuner.BaseTuner(oracle, hypermodel=lambda hp: None, directory=tmp,
                                       project_name="sim", overwrite=True)
        oracle.verbose = 0
        now, asked, running, done = 0.0, 0, [], []
        while len(done) < n_trials:
            while len(running) < slots and asked < n_trials:
                trial = oracle.create_trial(f"slot-{asked}")
                if str(trial.status) != "RUNNING":
                    break
                asked += 1
                acc, cost = objective(dict(trial.hyperparameters.values), seed)
                heapq.heappush(running, (now + cost, asked, trial, acc, cost))
            if not running:
                break
            now, _, trial, acc, cost = heapq.heappop(running)
            oracle.update_trial(trial.trial_id, {"val_accuracy": acc}, step=0)
            trial.status = "COMPLETED"
            oracle.end_trial(trial)
            done.append({"t": now, "acc": acc, "cost": cost})
    return done


def summarise(runs: list[list[dict]], n: int, slots: int) -> dict:
    best = [max(r["acc"] for r in run[:n]) for run in runs]
    cost = [float(np.mean([r["cost"] for r in run[:n]])) for run in runs]
    near_chance = [sum(r["acc"] < 0.5 for r in run[:n]) for run in runs]
    return {"median": float(np.median(best)), "min": float(np.min(best)),
            "max": float(np.max(best)), "p25": float(np.percentile(best, 25)),
            "p75": float(np.percentile(best, 75)), "cost": float(np.median(cost)),
            "near_chance": float(np.median(near_chance)), "slots": slots}


def table(results: dict, trial_counts: list[int], seeds: int) -> str:
    lines = [f"Best synthetic val accuracy after N finished trials, {seeds} seeds: median "
             "[min–max]; cost = median simulated seconds per trial; chance = median trials "
             "below 0.5.", "",
             "| proposals | " + " | ".join(f"best after {n}" for n in trial_counts)
             + " | cost/trial | chance |", "|---" * (len(trial_counts) + 3) + "|"]
    for label, per_n in results.items():
        cells = [f"{s['median']:.4f} [{s['min']:.4f}–{s['max']:.4f}]" for s in per_n.values()]
        last = list(per_n.values())[-1]
        lines.append(f"| {label} | " + " | ".join(cells)
                     + f" | {last['cost']:.1f} | {last['near_chance']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", default="8,16", help="comma-separated N of best-after-N")
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    ap.add_argument("--doc", default="", help="also write the table into this document "
                    "(e.g. docs/benchmarks.md, between the proposals-sim markers)")
    args = ap.parse_args(argv)
    counts = sorted(int(x) for x in args.trials.split(","))
    results = {}
    for label, tuner, proposals, slots in SYSTEMS:
        runs = [simulate(tuner, proposals, slots, counts[-1], seed) for seed in range(args.seeds)]
        results[label] = {n: summarise(runs, n, slots) for n in counts}
        print(label, {n: round(s["median"], 4) for n, s in results[label].items()}, flush=True)
    md = table(results, counts, args.seeds)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "proposals-sim.md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.out, "proposals-sim.json"), "w") as f:
        json.dump({k: {str(n): s for n, s in v.items()} for k, v in results.items()}, f, indent=1)
    if args.doc:
        from benchmarks.honest_report import update_doc

        update_doc(args.doc, INTRO + md, name="proposals-sim",
                   title="Proposal quality, simulated (`benchmarks/proposals_sim.py`)")
    print(md)


INTRO = ("Real KerasTuner/AutoKeras oracles propose over the seed graph's ConvBlock space "
         "(only learning_rate fixed); a synthetic objective scores each trial (sgd near "
         "chance, 64 filters best, light dropout helps, noise 0.004) and a cost model times "
         "it; P slots run trials and every finished one is reported before the next ask, as "
         "the search runner does. *stock* = the upstream oracles as cerebro used them before "
         "(greedy with its space registered up front, so its first trial is a mutation, and "
         "`exploration=0.3` draws from the start); *parallel-aware* = "
         "`cerebro.nas.proposals` (the default now). No training: "
         "`python benchmarks/proposals_sim.py --seeds 10 --trials 8,16 --doc docs/benchmarks.md`"
         " takes ~2 min.\n\n")


if __name__ == "__main__":
    main()
