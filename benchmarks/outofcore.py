"""Out-of-core shards: a Criteo-like table larger than the workers' data budget, 2 workers.

``python benchmarks/outofcore.py [--rows N] [--budget-mb B] [--fit-rows M]`` runs, in one
Spark session (local[2]) and through ``HyperHyperModel`` (StructuredDataInput -> DenseBlock):

1. out of core: a table of ``N`` rows whose prepared data is at least 4x the two workers'
   data budget in total; each worker's peak RSS per visit (``VisitResult.peak_rss_bytes``)
   must stay under its budget + 600 MB;
2. a table of ``M`` rows that fits the budget, searched twice with the same seed: held in
   memory (large budget) and streamed from disk (tiny budget); training throughput (rows per
   second of training compute) and final validation accuracy side by side;
3. the task-parallel baseline's memory: one process holding the big table as float32 (what
   each KerasTuner-distributed worker holds).

Results go to ``benchmarks/results/outofcore.json`` and a section "Out-of-core" of
``docs/benchmarks.md`` (``--report-only`` rewrites the section from the results on file).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import workloads  # noqa: E402

MB = 2**20
START, END = "<!-- outofcore:start -->", "<!-- outofcore:end -->"


def _parquet_bytes(path: str) -> int:
    """Bytes of the prepared Parquet files under a store's directory."""
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs
               if f.endswith(".parquet"))


def _search(spark, parquet: str, work: str, budget_mb: float, trials: int, seed: int = 1):
    """One HyperHyperModel search; returns its figures."""
    from keras_tuner import HyperParameters

    import autokeras as ak
    from cerebro.backend import SparkBackend
    from cerebro.nas.hphpmodel import HyperHyperModel
    from cerebro.storage import LocalStore

    pools = []

    class Backend(SparkBackend):
        def start_workers(self, store, dataset, columns):
            pools.append(super().start_workers(store, dataset, columns))
            return pools[-1]

    backend = Backend(spark_context=spark.sparkContext, num_workers=2, verbose=0,
                      data_memory_mb=budget_mb, local_dir=os.path.join(work, "local"))
    store = LocalStore(prefix_path=os.path.join(work, "store"))
    inp = ak.StructuredDataInput(column_names=workloads.CRITEO_FEATURES,
                                 column_types={c: "numerical" for c in workloads.CRITEO_FEATURES})
    out = ak.ClassificationHead()(ak.DenseBlock()(inp))
    am = HyperHyperModel(inputs=inp, outputs=out, overwrite=True, max_trials=trials, seed=seed)
    peaks: dict[int, int] = {}
    train_s = [0.0]

    def listen(kind, p):
        if kind == "visit_done" and p["kind"] == "train":
            train_s[0] += float(p.get("seconds") or 0.0)
        if kind == "visit_done":
            peaks[p["partition"]] = max(peaks.get(p["partition"], 0),
                                        int(p.get("peak_rss_bytes") or 0))

    am.resource_bind(backend=backend, store=store, feature_columns=workloads.CRITEO_FEATURES,
                     label_columns=["label"], evaluation_metric="accuracy",
                     validation=workloads.VAL_COL, verbose=0, records=False, listeners=[listen])
    hp = HyperParameters()
    hp.Fixed("learning_rate", value=0.001)
    hp.Choice("dense_block_1/units_0", [32, 64])
    am.tuner_bind("greedy", hyperparameters=hp, objective="val_accuracy", max_trials=trials,
                  overwrite=True)
    t0 = time.time()
    result = am.fit(spark.read.parquet(parquet), epochs=1, batch_size=1024)
    wall = time.time() - t0
    pool = pools[-1]
    info = {str(p): {k: v for k, v in i.items() if k != "timings"}
            for p, i in pool.ready_info.items()}
    train_rows = sum(i["train_rows"] for i in pool.ready_info.values())
    trained = len(result.models) if hasattr(result, "models") else trials
    accs = sorted(float(m.history["val_accuracy"][-1]) for m in result.models.values()) \
        if hasattr(result, "models") else []
    prepared = _parquet_bytes(os.path.join(work, "store"))
    local = sum(int(i.get("shard_bytes", 0)) for i in pool.ready_info.values())
    return {"budget_mb": budget_mb, "wall_s": wall, "train_visit_s": train_s[0],
            "train_rows": train_rows, "models": trained,
            "rows_per_s": train_rows * trained / train_s[0],
            "peak_rss_mb": {str(k): v / MB for k, v in sorted(peaks.items())},
            "workers": info, "val_accuracy": accs, "prepared_bytes": prepared,
            "local_copy_bytes": local}


def _task_parallel_rss(parquet: str) -> float:
    """Peak RSS (MB) of one process holding the whole table as float32 numpy."""
    code = ("import resource, sys; sys.path.insert(0, %r); from benchmarks import workloads; "
            "x, y, v = workloads.load_criteo_numpy(%r); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)") % (ROOT, parquet)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def run(args) -> dict:
    from cerebro.backend.session import local_session

    work = args.work_dir
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    spark = local_session(2, app_name="cerebro-outofcore")
    spark.sparkContext.setLogLevel("ERROR")
    out = {"created": time.strftime("%Y-%m-%d %H:%M:%S"), "cores": os.cpu_count(),
           "rows": args.rows, "fit_rows": args.fit_rows, "budget_mb": args.budget_mb}
    try:
        big = os.path.join(work, "big.parquet")
        t0 = time.time()
        workloads.generate_criteo(spark, big, args.rows)
        out["generate_s"] = time.time() - t0
        print(f"out of core: {args.rows:,} rows, budget {args.budget_mb} MB/worker", flush=True)
        out["outofcore"] = _search(spark, big, os.path.join(work, "ooc"), args.budget_mb,
                                   args.trials)
        print(json.dumps(out["outofcore"]["peak_rss_mb"]), flush=True)
        small = os.path.join(work, "small.parquet")
        workloads.generate_criteo(spark, small, args.fit_rows)
        for rep in range(args.repeats):
            for mode, budget in (("memory", 8192), ("stream", 1)):
                print(f"fits: {args.fit_rows:,} rows, {mode} #{rep}", flush=True)
                r = _search(spark, small, os.path.join(work, f"fit-{mode}"), budget, args.trials)
                out.setdefault("fits", {}).setdefault(mode, []).append(r)
    finally:
        spark.stop()
    out["task_parallel_rss_mb"] = _task_parallel_rss(big)
    out["driver_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _section(r: dict) -> str:
    ooc = r["outofcore"]
    budget = r["budget_mb"]
    total = 2 * budget * MB
    peaks = ooc["peak_rss_mb"]
    streamed = all(not w.get("data_in_memory", True) for w in ooc["workers"].values())
    fits = r.get("fits", {})

    def best(mode, key):
        return max(x[key] for x in fits[mode]) if fits.get(mode) else float("nan")

    ratio = best("stream", "rows_per_s") / best("memory", "rows_per_s")
    lines = [
        "## Out-of-core",
        "",
        f"`benchmarks/outofcore.py` ({r['created']}, {r['cores']} shared cores: other "
        "engineers' jobs ran at the same time, so times are noisy; compare the ratios). "
        "`HyperHyperModel`, StructuredDataInput -> DenseBlock, greedy tuner, "
        f"{ooc['models']} trials x 1 epoch, 2 workers, batch 1024.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| Criteo-like rows | {r['rows']:,} |",
        f"| data budget per worker (`data_memory_mb`) | {budget} MB |",
        f"| prepared Parquet / both workers' budget | {ooc['prepared_bytes'] / total:.1f}x |",
        f"| workers' local copies (uncompressed) / both budgets | "
        f"{ooc['local_copy_bytes'] / total:.1f}x |",
        f"| workers streamed from local disk | {'yes' if streamed else 'no'} |",
        "| peak RSS per worker, over visits | "
        + ", ".join(f"{v:.0f} MB" for v in peaks.values()) + " |",
        "| peak RSS / (budget + 600 MB) | "
        + ", ".join(f"{v / (budget + 600):.2f}" for v in peaks.values()) + " |",
        f"| task-parallel baseline: one process holding the table (float32) | "
        f"{r['task_parallel_rss_mb']:.0f} MB per worker |",
        f"| that / cerebro's peak worker RSS | "
        f"{r['task_parallel_rss_mb'] / max(peaks.values()):.2f}x |",
        f"| search wall time | {ooc['wall_s']:.0f} s |",
        "",
        f"On a table that fits ({r['fit_rows']:,} rows), the same search with the shard held "
        "in memory (full shuffle) and streamed from disk (block shuffle), best of "
        f"{len(fits.get('memory', []))} run(s) each:",
        "",
        "| | rows/s of training visits | final val accuracy of the trials |",
        "|---|---|---|",
    ]
    for mode in ("memory", "stream"):
        accs = fits.get(mode, [{}])[-1].get("val_accuracy", [])
        lines.append(f"| {mode} | {best(mode, 'rows_per_s'):,.0f} | "
                     + ", ".join(f"{a:.4f}" for a in accs) + " |")
    lines += ["", f"Streaming / in-memory throughput: **{ratio:.2f}** (target: >= 0.85).", ""]
    return "\n".join(lines)


def render(results: str, doc: str) -> None:
    with open(results) as f:
        r = json.load(f)
    text = open(doc).read() if os.path.exists(doc) else ""
    block = f"{START}\n{_section(r)}\n{END}\n"
    if START in text and END in text:
        text = text[:text.index(START)] + block + text[text.index(END) + len(END) + 1:]
    else:
        text = text.rstrip() + "\n\n" + block
    with open(doc + ".tmp", "w") as f:
        f.write(text)
    os.replace(doc + ".tmp", doc)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=2_100_000)
    p.add_argument("--budget-mb", type=float, default=32)
    p.add_argument("--fit-rows", type=int, default=200_000)
    p.add_argument("--trials", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--work-dir", default=os.path.join(ROOT, ".bench", "outofcore"))
    p.add_argument("--results", default=os.path.join(ROOT, "benchmarks", "results",
                                                      "outofcore.json"))
    p.add_argument("--doc", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    if not args.report_only:
        out = run(args)
        with open(args.results + ".tmp", "w") as f:
            json.dump(out, f, indent=1)
        os.replace(args.results + ".tmp", args.results)
    render(args.results, args.doc)
    print(f"results: {args.results}; section 'Out-of-core' of {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
