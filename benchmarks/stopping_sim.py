"""Early stopping replayed on real learning curves: the search runner on the in-process pool.

The curves are the val accuracy after each epoch of every trial of the recorded benchmark
searches (``benchmarks/results/bench-full.json``: the seed's MNIST space, 8 trials x 3
epochs, greedy and random tuners, Cerebro's and AutoKeras's runs). Each search is replayed
through the real ``SearchRunner`` and ``ModelHopper`` on a ``ScriptedPool`` (2 workers,
parallelism 4 as a NAS search's default, virtual time): the trials come in their recorded
order and each epoch reports its recorded value. A trial's sub-epoch takes its recorded
epoch time (AutoKeras's runs, sequential) over the workers, else 1 s.

It counts the training sub-epochs run with each stopper against none, the simulated wall,
and whether the best trial (the one with the best score when every trial trains fully)
survives, and lists the stopped trials with the score they would have reached.

A replay keeps the trials fixed: in a real greedy search, a stopped trial also changes
what the oracle proposes next (it scores the stopped trial by its partial curve).

    python benchmarks/stopping_sim.py [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from typing import Any, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from cerebro.backend.scripted import Outcome, ScriptedPool  # noqa: E402
from cerebro.engine.runs import Objective  # noqa: E402
from cerebro.search import BuiltModel, RunnerSettings, SearchRunner, TrialRequest  # noqa: E402
from cerebro.search.source import DONE, Ask, TrialSource  # noqa: E402
from cerebro.search.stopping import ASHAStopper, MedianStoppingRule, Stopper  # noqa: E402
from cerebro.storage import LocalStore  # noqa: E402
from cerebro.wire import ModelIO, ModelStatus, VisitTask  # noqa: E402

IO = ModelIO(("x",), ("y",), ((1,),), ((1,),))
WORKERS, PARALLELISM = 2, 4
STOPPERS: dict[str, Optional[Stopper]] = {
    "off": None,
    "median (grace 1, min 3)": MedianStoppingRule(),
    "median (grace 2, min 3)": MedianStoppingRule(grace_epochs=2),
    "asha (eta 3)": ASHAStopper(),
}


@dataclasses.dataclass
class Trial:
    trial_id: str
    curve: list[float]
    epoch_s: float


def load_searches(path: str) -> dict[str, list[Trial]]:
    """Every recorded search whose epochs name their trial (or run one after another)."""
    runs = json.load(open(path))["runs"]
    out: dict[str, list[Trial]] = {}
    for run in runs:
        ends = [e for e in run.get("epochs") or [] if e["kind"] == "epoch_end"
                and e.get("val_accuracy") is not None]
        if not ends or run["system"] == "kt-dist":  # kt-dist interleaves unnamed trials
            continue
        trials: dict[str, Trial] = {}
        if all(e["trial"] for e in ends):  # Cerebro: named trials
            for e in ends:
                trials.setdefault(e["trial"], Trial(e["trial"], [], 1.0)).curve.append(
                    float(e["val_accuracy"]))
        else:  # AutoKeras: sequential; a trial's epochs count 0, 1, 2, ...
            begin = next((e["t"] for e in run["epochs"] if e["kind"] == "train_begin"),
                         ends[0]["t"])
            prev, n = begin, -1
            for e in ends:
                if e["epoch"] == 0:
                    n += 1
                t = trials.setdefault(f"trial_{n}", Trial(f"trial_{n}", [], 0.0))
                t.curve.append(float(e["val_accuracy"]))
                t.epoch_s = max(t.epoch_s, e["t"] - prev)
                prev = e["t"]
        if len({len(t.curve) for t in trials.values()}) == 1 and len(trials) >= 4:
            out[run["tag"]] = list(trials.values())
    return out


class Replay(TrialSource):
    def __init__(self, trials: list[Trial]) -> None:
        self.objective = Objective("val_accuracy", "max")
        self.budget, self.name = len(trials), "replay"
        self.todo = list(trials)
        self.ended: dict[str, ModelStatus] = {}

    def ask(self) -> Ask:
        if not self.todo:
            return DONE
        t = self.todo.pop(0)
        return TrialRequest(t.trial_id, {}, len(t.curve),
                            lambda seed: BuiltModel(b"spec", 32, IO), seed_key=t.trial_id)

    def finish(self, model_id: str, status: ModelStatus, best_value: Optional[float] = None,
               error: str = "", reason: str = "") -> None:
        self.ended[model_id] = status


class PoolBackend:
    """Starts a ``ScriptedPool`` whose visits replay the trials' recorded epochs."""

    visit_timeout: Optional[float] = None  # the rest of cerebro.engine.ports.Backend
    visit_deadline_floor, max_restarts = 60.0, 10

    def __init__(self, trials: dict[str, Trial], store: Any) -> None:
        self.trials, self.num_workers = trials, WORKERS
        self.pool = ScriptedPool(self.num_workers, self.script, store=store)

    def quiet_console(self) -> None:
        pass

    def script(self, worker: int, task: VisitTask) -> Outcome:
        t = self.trials[task.model_id]
        acc = t.curve[task.epoch]
        if task.kind == "train":
            return Outcome(seconds=t.epoch_s / WORKERS, metrics={"accuracy": acc})
        return Outcome(seconds=0.05 * t.epoch_s, metrics={"accuracy": acc})

    def start_workers(self, store: Any, dataset: Any, columns: Any) -> ScriptedPool:
        return self.pool


def replay(trials: list[Trial], stopper: Optional[Stopper]) -> dict[str, Any]:
    by_id = {t.trial_id: t for t in trials}
    source = Replay(trials)
    sub_epochs = {t.trial_id: 0 for t in trials}

    def count(kind: str, p: dict) -> None:
        if kind == "visit_done" and p["kind"] == "train":
            sub_epochs[p["model_id"]] += 1

    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(tmp)
        backend = PoolBackend(by_id, store)
        settings = RunnerSettings(project="sim", parallelism=PARALLELISM,
                                  output_names=["y"], verbose=0, records=False,
                                  stopper=stopper, listeners=(count,),
                                  clock=backend.pool.clock)
        result = SearchRunner(backend, store, source, settings,
                              dataset=None, columns=("x", "y")).run()
    full_best = max(trials, key=lambda t: max(t.curve))
    stopped = sorted(m for m, s in source.ended.items() if s == ModelStatus.STOPPED)
    return {"train_sub_epochs": sum(sub_epochs.values()), "wall_s": result.stats["search_s"],
            "best": max(max(by_id[m].curve[:sub_epochs[m] // WORKERS] or [0.0])
                        for m in by_id),
            "full_best": max(full_best.curve), "best_survives": full_best.trial_id not in stopped,
            "stopped": {m: {"after_epochs": sub_epochs[m] // WORKERS,
                            "at_stop": round(by_id[m].curve[sub_epochs[m] // WORKERS - 1], 3),
                            "full": round(max(by_id[m].curve), 3)} for m in stopped}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=os.path.join(ROOT, "benchmarks/results/bench-full.json"))
    ap.add_argument("--out", default=None, help="write stopping-sim.json/.md here")
    args = ap.parse_args()
    searches = load_searches(args.results)
    rows: dict[str, dict[str, Any]] = {}
    for tag, trials in searches.items():
        rows[tag] = {name: replay(trials, stopper) for name, stopper in STOPPERS.items()}
    lines = ["| search | stopper | train sub-epochs | saved | sim. wall s | best val acc "
             "(full: all trials trained) | best trial survives | stopped (at stop -> full) |",
             "|---|---|---|---|---|---|---|---|"]
    for tag, by in rows.items():
        base = by["off"]
        for name, r in by.items():
            saved = 1 - r["train_sub_epochs"] / base["train_sub_epochs"]
            stopped = ", ".join(f"{m} e{s['after_epochs']} {s['at_stop']}->{s['full']}"
                                for m, s in r["stopped"].items()) or "-"
            wall = f"{r['wall_s']:.1f}"
            lines.append(f"| {tag} | {name} | {r['train_sub_epochs']} | {100 * saved:.0f}% | "
                         f"{wall} | {r['best']:.3f} ({r['full_best']:.3f}) | "
                         f"{'yes' if r['best_survives'] else 'NO'} | {stopped} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "stopping-sim.json"), "w") as f:
            json.dump(rows, f, indent=1)
        with open(os.path.join(args.out, "stopping-sim.md"), "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
