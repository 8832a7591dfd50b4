"""The honest benchmark's figures and document section (no runs: records made by hand),
and the proposal simulation on a tiny budget."""

from __future__ import annotations

import math

from benchmarks import honest, honest_report, honest_tables, proposals_sim


def record(wall, hits, t0=100.0):
    epochs = [{"kind": "epoch_end", "t": t0 + t, "val_accuracy": acc} for t, acc in hits]
    return {"t_launch": t0, "wall_s": wall, "killed": [], "epochs": epochs,
            "rss": {"peak_total_mb": 1.0}, "results": {"main": {"ok": True}}}


def test_curve_is_best_so_far_and_time_to_counts_never():
    f = honest.figures(record(50, [(10, 0.9), (20, 0.96), (25, 0.95), (30, 0.97)]), 0.95)
    assert f["curve"] == [(10, 0.9), (20, 0.96), (30, 0.97)]
    assert f["time_to_target_s"] == 20 and f["best_val_accuracy"] == 0.97
    assert honest.time_to(f["curve"], 0.99) is None
    assert honest_report.median([10, None, 30]) == 30
    assert honest_report.median([10, None, None]) is None  # the median run never got there
    assert honest_report.seed_ratio(None, 5) == math.inf and honest_report.seed_ratio(5, None) == 0


def _run(system, seed, wall, hits, visits=()):
    r = {"tag": f"greedy-8x3-{system}-s{seed}", "system": system, "part": "greedy",
         "budget": "8x3", "seed": seed, "figures": honest.figures(record(wall, hits)),
         "marks": {"fit_called": 5.0}, "phases": {}, "trials": [], "train_begins": [4.0],
         "visits": list(visits)}
    return r


def test_render_per_seed_ratios_targets_and_doc(tmp_path):
    visits = [{"kind": "visit_started", "trial": "trial_0", "t_rel": 10.0},
              {"kind": "visit_done", "trial": "trial_0", "t_rel": 20.0, "seconds": 10.0,
               "threads": 2}]
    runs = [_run("cerebro-seed", i, 40 + i, [(20 + i, 0.96)], visits) for i in range(3)]
    runs += [_run("autokeras-seed", i, 100, [(60, 0.9 + 0.03 * i)]) for i in range(3)]
    out = {"created": "now", "cores": 2, "runs": runs,
           "settings": {"workers": 2, "learning_rate": 1e-4, "exploration": 0.3, "seeds": 3,
                        "batch_size": 32, "rows": 5000}}
    md = honest_report.render(out, str(tmp_path))
    # target = AutoKeras's median best (0.93): cerebro reaches it at 20-22 s, AutoKeras at 60
    assert "time to 0.9300" in md
    assert "| cerebro, the user's own SparkSession | 3/3 ok | 41 s [40 s–42 s]" in md
    assert "0.41×" in md  # median of the per-seed wall ratios 0.40, 0.41, 0.42
    assert "| 0 | 40 / 100 | 0.40× | 20 / never | 0.00× |" in md  # AutoKeras s0 missed 0.93
    assert "| 1 | 41 / 100 | 0.41× | 21 / 60 | 0.35× |" in md
    assert "search-phase utilisation 100.0%" in md  # 10 s x 2 threads / (2 cores x 10 s)
    assert "| first training step | 10.0 | 4.0 |" in md
    assert (tmp_path / "honest.png").stat().st_size > 0
    doc = tmp_path / "b.md"
    doc.write_text("# B\n\nkept\n")
    honest_report.update_doc(str(doc), md)
    honest_report.update_doc(str(doc), "second\n")
    text = doc.read_text()
    assert "kept" in text and "second" in text and "41 s" not in text
    assert text.count("<!-- honest:start -->") == 1


def test_trial_rows_count_waiting():
    run = {"visits": [{"kind": "visit_started", "trial": "a", "t_rel": 0.0},
                      {"kind": "visit_done", "trial": "a", "t_rel": 2.0, "seconds": 2.0},
                      {"kind": "visit_started", "trial": "a", "t_rel": 5.0},
                      {"kind": "visit_done", "trial": "a", "t_rel": 6.0, "seconds": 1.0}]}
    (row,) = honest_tables.trial_rows(run)
    assert row["busy_s"] == 3.0 and row["wall_s"] == 6.0 and row["waiting_s"] == 3.0


def test_simulation_runs_real_oracles(tmp_path):
    done = proposals_sim.simulate("greedy", "parallel", 4, 6, seed=0)
    assert len(done) == 6
    assert all(0.1 <= d["acc"] <= 0.995 and d["cost"] > 0 for d in done)
    assert [d["t"] for d in done] == sorted(d["t"] for d in done)
