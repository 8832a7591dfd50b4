"""The honest benchmark's figures and document section (no runs: records made by hand),
and the proposal simulation on a tiny budget."""

from __future__ import annotations

from benchmarks import honest, honest_report, proposals_sim


def record(wall, hits, t0=100.0):
    epochs = [{"kind": "epoch_end", "t": t0 + t, "val_accuracy": acc} for t, acc in hits]
    return {"t_launch": t0, "wall_s": wall, "killed": [], "epochs": epochs,
            "rss": {"peak_total_mb": 1.0}, "results": {"main": {"ok": True}}}


def test_time_to_target_counts_never():
    f = honest.figures(record(50, [(10, 0.9), (20, 0.96), (30, 0.97)]), 0.95)
    assert f["time_to_target_s"] == 20 and f["best_val_accuracy"] == 0.97
    assert honest.figures(record(50, [(10, 0.9)]), 0.95)["time_to_target_s"] is None
    assert honest_report.median([10, None, 30]) == 30
    assert honest_report.median([10, None, None]) is None  # the median run never got there


def test_render_and_update_doc(tmp_path):
    runs = [{"tag": f"greedy-cerebro-user-s{i}", "figures": honest.figures(
        record(40 + i, [(20 + i, 0.96)]), 0.95)} for i in range(3)]
    runs += [{"tag": f"greedy-autokeras-s{i}", "figures": honest.figures(
        record(100, [(60, 0.9 + 0.03 * i)]), 0.95)} for i in range(3)]
    out = {"created": "now", "cores": 2, "runs": runs,
           "settings": {"workers": 2, "target": 0.95, "learning_rate": 1e-4, "trials": 8,
                        "epochs": 3, "exploration": 0.3, "proposals": "parallel", "seeds": 3}}
    md = honest_report.render(out, str(tmp_path))
    assert "| cerebro, the seed's own SparkSession | 3/3 ok | 41 s [40 s–42 s]" in md
    assert "(2× never)" in md and "0.41×" in md
    assert (tmp_path / "honest.png").stat().st_size > 0
    doc = tmp_path / "b.md"
    doc.write_text("# B\n\nkept\n")
    honest_report.update_doc(str(doc), md)
    honest_report.update_doc(str(doc), "second\n")
    text = doc.read_text()
    assert "kept" in text and "second" in text and "41 s" not in text
    assert text.count("<!-- honest:start -->") == 1


def test_simulation_runs_real_oracles(tmp_path):
    done = proposals_sim.simulate("greedy", "parallel", 4, 6, seed=0)
    assert len(done) == 6
    assert all(0.1 <= d["acc"] <= 0.995 and d["cost"] > 0 for d in done)
    assert [d["t"] for d in done] == sorted(d["t"] for d in done)
