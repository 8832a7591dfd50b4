"""Benchmark records -> summary figures, ``docs/benchmarks.md`` tables and PNG plots."""

from __future__ import annotations

import os
import platform
from importlib import metadata

MB = 1024 * 1024
NAMES = {"cerebro": "cerebro (Spark, model hopping)", "autokeras": "AutoKeras, sequential",
         "kt-dist": "KerasTuner distributed (task-parallel)"}


# -- per-run figures -------------------------------------------------------------------------
def _roles_rss(rec: dict) -> dict[str, float]:
    """Peak RSS (MB) per role: driver/JVM/worker N for cerebro; chief/tunerN for kt-dist."""
    main = rec["results"].get("main", {})
    pids = {int(pid): int(w) for w, pid in main.get("worker_pids", {}).items()}
    out: dict[str, float] = {}
    for p in rec["rss"]["processes"]:
        role = p["role"]
        if rec["system"] == "cerebro":
            role = {"main": "driver"}.get(role, role)
            if p["pid"] in pids:
                role = f"worker {pids[p['pid']]}"
        elif rec["system"] == "autokeras" and role == "main":
            role = "process"
        out[role] = max(out.get(role, 0.0), p["peak_rss_mb"])
    return out


def summarize(rec: dict) -> dict:
    """The figures the report shows for one run, from its raw record."""
    t0 = rec["t_launch"]
    ends = [e for e in rec["epochs"] if e.get("kind", "epoch_end") == "epoch_end"
            and e.get("val_accuracy") is not None]
    begins = [e["t"] - t0 for e in rec["epochs"] if e.get("kind") == "train_begin"]
    s: dict = {"wall_s": rec["wall_s"], "epochs_logged": len(ends),
               "rss_total_mb": rec["rss"]["peak_total_mb"], "rss_by_role": _roles_rss(rec)}
    if ends:
        best = max(e["val_accuracy"] for e in ends)
        s["best_val_accuracy"] = best
        s["time_to_best_s"] = min(e["t"] for e in ends if e["val_accuracy"] == best) - t0
    main = rec["results"].get("main") or rec["results"].get("chief") or {}
    s["trials"] = main.get("trials", [])
    if rec["system"] == "cerebro" and "marks" in main and "first_visit" in main["marks"]:
        m = main["marks"]
        s["startup_s"] = m["first_visit"]
        s["phases"] = {
            "python + pyspark import": m["spark_imported"],
            "Spark session start": m["spark_ready"] - m["spark_imported"],
            "SparkBackend (starts the worker warm-up)": m["backend_created"] - m["spark_ready"],
            "autokeras + cerebro.nas import": m["cerebro_imported"] - m["backend_created"],
            "set-up before fit": m["fit_called"] - m["cerebro_imported"],
            "data prep + graph config": m["workers_start_called"] - m["fit_called"],
            "worker start": m["workers_ready"] - m["workers_start_called"],
            "first trials built": m["first_visit"] - m["workers_ready"],
        }
        st = main["stats"]
        s.update(utilisation=st.get("utilisation"), hop_overhead=st.get("hop_overhead"),
                 search_s=st.get("search_s"), builds=st.get("builds"), visits=st.get("visits"),
                 scheduler_gaps=main.get("scheduler_gaps"), breakdown=main.get("breakdown"))
        if rec["wall_s"]:
            s["utilisation_of_wall"] = (main["breakdown"]["compute_s"]
                                        / (rec["workers"] * rec["wall_s"]))
        s["shards"] = {w: info.get("shard_bytes", 0) / MB
                       for w, info in main.get("workers_info", {}).items()}
        s["worker_start"] = _worker_start(main, t0 + m["workers_start_called"])
    elif begins:
        s["startup_s"] = min(begins)
    if rec["system"] == "kt-dist":
        done = [r["marks"].get("fit_returned", r["marks"].get("done"))
                for k, r in rec["results"].items() if k != "chief"]
        if done and all(d is not None for d in done):
            s["workers_done_s"] = max(done)
    if main.get("data_bytes"):
        s["data_mb"] = main["data_bytes"] / MB
    return s


def _worker_start(main: dict, t_called: float) -> dict:
    """Mean over workers of where their start went (from the workers' ready messages)."""
    timings = [i["timings"] for i in main.get("workers_info", {}).values() if "timings" in i]
    if not timings:
        return {}
    keys = {"task launch": None, "connect": "connect_s", "shard load": "shard_load_s",
            "torch import": "backend_import_s", "keras import": "keras_import_s",
            "entry to ready": "ready_s"}
    out = {}
    for name, k in keys.items():
        vals = [t["entered"] - t_called if k is None else t.get(k, 0.0) for t in timings]
        out[name] = sum(vals) / len(vals)
    return out


# -- plots -----------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_wall(runs: list[dict], path: str) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.7 * len(runs) + 1.2))
    labels = [NAMES.get(r["system"], r["system"]) for r in runs]
    start = [r["summary"].get("startup_s") or 0.0 for r in runs]
    rest = [(r["wall_s"] or 0.0) - s for r, s in zip(runs, start)]
    ax.barh(labels, start, color="#bbbbbb", label="start-up (launch to first training step)")
    ax.barh(labels, rest, left=start, color="#4477aa", label="search + shut-down")
    for i, r in enumerate(runs):
        ax.text((r["wall_s"] or 0) + 1, i, f"{r['wall_s']:.0f} s", va="center")
    ax.invert_yaxis()
    ax.set_xlabel("wall time (s), one run, same machine")
    w = runs[0]["workload"]
    ax.set_title(f"MNIST sample, {w['trials']} trials x {w['epochs']} epochs, "
                 f"{w.get('tuner', 'greedy')} tuner, seed {w['seed']}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _busy_share(timeline, workers: int, offset: float, step: float = 1.0):
    end = max(e for *_, e in timeline)
    n = int(end / step) + 1
    busy = [0.0] * n
    for _, _, _, s, e in timeline:
        for i in range(int(s / step), min(n, int(e / step) + 1)):
            busy[i] += max(0.0, min(e, (i + 1) * step) - max(s, i * step))
    return [offset + i * step for i in range(n)], [b / (workers * step) for b in busy]


def plot_utilisation(runs: list[dict], path: str) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for r in runs:
        main = r["results"]["main"]
        xs, ys = _busy_share(main["timeline"], r["workers"], main["timeline_t0"])
        ax.step(xs, [100 * y for y in ys], where="post",
                label=f"{r['workers']} worker(s), {r['workload']['name']}")
        ax.axvline(main["timeline_t0"], color="grey", lw=0.8, ls=":")
    ax.set_xlabel("seconds since launch (dotted: first visit; before it: start-up)")
    ax.set_ylabel("workers busy (%)")
    ax.set_ylim(0, 105)
    ax.set_title("cerebro: share of workers with a visit in flight (hopper timeline, 1 s bins)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_memory(runs: list[dict], path: str) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.4))
    labels, values, colors = [], [], []
    for r in runs:
        for role, mb in sorted(r["summary"]["rss_by_role"].items()):
            if role in ("pyspark-python", "?") or mb < 20:
                continue
            labels.append(f"{r['system']}: {role}")
            values.append(mb)
            colors.append("#4477aa" if r["system"] == "cerebro" else "#cc6677")
    ax.barh(labels, values, color=colors)
    ax.invert_yaxis()
    ax.set_xlabel("peak RSS (MB)")
    rows = runs[0]["workload"]["data"].get("rows", 0)
    ax.set_title(f"Criteo-like table, {rows:,} rows: peak RSS per process")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -- the document ----------------------------------------------------------------------------
def _f(v, fmt="{:.1f}", none="-"):
    return none if v is None else fmt.format(v)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _versions() -> str:
    out = []
    for pkg in ("torch", "keras", "autokeras", "keras-tuner", "pyspark"):
        try:
            out.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(out)


def _mem_gb() -> float:
    try:
        import psutil

        return psutil.virtual_memory().total / 1024**3
    except ImportError:
        return float("nan")


def _other_mode(other: dict, rel: str) -> str:
    """The headline tables of the other mode's results on file (their plots are on file too)."""
    from benchmarks import report_text

    by_tag = {r["tag"]: r for r in other["runs"]}
    for r in other["runs"]:
        r["summary"] = summarize(r)
    mode = other["mode"]
    parts = [f"## Also on file: the {mode} mode's results\n",
             f"From `benchmarks/results/bench-{mode}.json`; "
             + report_text.invocations(other)]
    mnist = [by_tag[t] for t in ("mnist-cerebro", "mnist-autokeras", "mnist-kt-dist") if t in by_tag]
    if mnist:
        parts.append(report_text.mnist_section(mnist, f"{rel}/wall-{mode}.png"))
    criteo = [by_tag[t] for t in ("criteo-cerebro", "criteo-kt-dist") if t in by_tag]
    if criteo:
        parts.append(report_text.criteo_section(criteo, f"{rel}/memory-{mode}.png"))
    return "\n\n".join(parts).replace("\n## ", "\n### ").replace("\n### Targets", "\n#### Targets") \
        .replace("\n### Memory per process", "\n#### Memory per process")


def render(out: dict, doc_path: str, results_dir: str, other: dict | None = None) -> str:
    """Writes ``doc_path`` (markdown) and its plots (PNG, in ``results_dir``); ``other``: the
    other mode's results on file, whose headline tables are appended."""
    from benchmarks import report_text

    runs = out["runs"]
    by_tag = {r["tag"]: r for r in runs}
    os.makedirs(results_dir, exist_ok=True)
    rel = os.path.relpath(results_dir, os.path.dirname(doc_path))
    mode = out["mode"]
    parts = [report_text.header(out, platform.processor() or platform.machine(), _mem_gb(),
                                _versions())]
    mnist = [by_tag[t] for t in ("mnist-cerebro", "mnist-autokeras", "mnist-kt-dist") if t in by_tag]
    if mnist:
        png = plot_wall(mnist, os.path.join(results_dir, f"wall-{mode}.png"))
        parts.append(report_text.mnist_section(mnist, os.path.join(rel, os.path.basename(png))))
    rnd = [by_tag[f"mnist-random-{s}"] for s in ("cerebro", "autokeras", "kt-dist")
           if f"mnist-random-{s}" in by_tag]
    if rnd:
        png = plot_wall(rnd, os.path.join(results_dir, f"wall-random-{mode}.png"))
        parts.append(report_text.mnist_section(rnd, os.path.join(rel, os.path.basename(png)),
                                               with_targets=False))
    cer = [r for r in runs if r["system"] == "cerebro" and r["results"].get("main", {}).get("timeline")]
    if cer:
        png = plot_utilisation([r for r in cer if r["tag"] in ("mnist-cerebro", "scaling-cerebro-1w")]
                               or cer,
                               os.path.join(results_dir, f"utilisation-{mode}.png"))
        parts.append(report_text.engine_section(cer, os.path.join(rel, os.path.basename(png))))
    scaling = sorted([r for r in runs if r["tag"] == "mnist-cerebro" or r["tag"].startswith("scaling-")],
                     key=lambda r: r["workers"])
    if len(scaling) > 1:
        parts.append(report_text.scaling_section(scaling))
    criteo = [by_tag[t] for t in ("criteo-cerebro", "criteo-kt-dist") if t in by_tag]
    if criteo:
        png = plot_memory(criteo, os.path.join(results_dir, f"memory-{mode}.png"))
        parts.append(report_text.criteo_section(criteo, os.path.join(rel, os.path.basename(png))))
    if other:
        parts.append(_other_mode(other, rel))
    parts.append(report_text.analysis(runs, out.get("profile")))
    parts.append(report_text.trials_section(mnist, rnd))
    os.makedirs(os.path.dirname(doc_path) or ".", exist_ok=True)
    with open(doc_path, "w") as f:
        f.write("\n\n".join(p for p in parts if p).rstrip() + "\n")
    return doc_path
