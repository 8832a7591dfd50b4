"""The console display: KerasTuner's best (best epoch, shown 1-based), plain lines on a
stream without a terminal, at a bounded rate, and a summary that never cuts a value."""

from __future__ import annotations

import io

from rich.console import Console

from cerebro.progress import ProgressReporter
from cerebro.wire import EpochEnd, ModelAdded, ModelDone, ModelFailed, ModelStatus, VisitDone


def feed(rep, model_id, values, best_epoch, params=None):
    rep.on_model_added(ModelAdded(model_id, epochs=len(values), params=params or {}))
    best = None
    for e, v in enumerate(values):
        rep.on_visit_done(VisitDone(model_id, kind="train", epoch=e, partition=0))
        best = v if best is None or v > best else best
        rep.on_epoch_end(EpochEnd(model_id, e, {"val_accuracy": v, "val_loss": 1 - v},
                                  best_epoch=values.index(best), best_value=best))
    rep.on_model_done(ModelDone(model_id, ModelStatus.DONE, best_epoch, max(values)))


def test_plain_lines_show_the_best_epoch_not_the_last():
    out = io.StringIO()
    rep = ProgressReporter(2, "val_accuracy", 2, stream=out, interval_s=3600)
    feed(rep, "trial_0", [0.5, 0.9, 0.7], best_epoch=1)
    feed(rep, "trial_1", [0.6, 0.8], best_epoch=1)
    lines = out.getvalue().splitlines()
    done = [line for line in lines if " DONE " in line]
    assert len(done) == 2
    assert "trial_0 DONE after 3 epoch(s): best val_accuracy=0.9000 (epoch 2)" in done[0]
    assert "best val_accuracy=0.9000 (epoch 2) (trial_0)" in done[1]  # best so far: trial_0
    assert "2/2 done" in done[1]
    assert rep.best() == ("trial_0", 0.9)


def test_status_lines_are_rate_limited_and_failures_always_shown():
    out = io.StringIO()
    rep = ProgressReporter(None, "val_loss", 1, stream=out, interval_s=3600)
    for i in range(5):
        rep.on_epoch_end(EpochEnd("a", i, {"val_loss": 1.0 / (i + 1)}, i, 1.0 / (i + 1)))
    rep.on_model_failed(ModelFailed("b", error="ValueError: bad shape\ntraceback..."))
    lines = out.getvalue().splitlines()
    assert len([line for line in lines if "running:" in line]) == 1  # not one per epoch
    assert any("b FAILED: ValueError: bad shape |" in line for line in lines)
    assert rep.best() == ("a", 0.2)  # val_loss: lower is better


def test_verbose_0_prints_nothing(capsys):
    out = io.StringIO()
    rep = ProgressReporter(1, "val_accuracy", 1, verbose=0, stream=out)
    feed(rep, "t", [0.5], best_epoch=0)
    rep.close()
    assert out.getvalue() == "" and capsys.readouterr().out == ""


def test_summary_wraps_hyperparameters_instead_of_cutting_them():
    long = {f"conv_block_1/filters_{i}": 256 for i in range(8)}
    long["optimizer"] = "adam_weight_decay"
    rep = ProgressReporter(1, "val_accuracy", 1, verbose=0, params=lambda mid: long)
    feed(rep, "trial_07", [0.3, 0.4], best_epoch=1)
    console = Console(file=io.StringIO(), width=100, force_terminal=False)
    console.print(rep.summary_table())
    text = console.file.getvalue()
    assert "optimizer=adam_weight_decay" in text  # one per line: whole, never cut
    assert all(f"filters_{i}=256" in text for i in range(8))
    assert "trial_07" in text and "0.4000" in text


def test_a_trial_stopped_early_shows_why_in_its_line_and_the_summary():
    out = io.StringIO()
    rep = ProgressReporter(2, "val_accuracy", 2, stream=out, interval_s=3600,
                           params=lambda mid: {})
    feed(rep, "trial_0", [0.9, 0.95], best_epoch=1)
    reason = "median stopping rule: best val_accuracy 0.26 after epoch 1 is below the median"
    rep.on_model_added(ModelAdded("trial_1", epochs=2, params={}))
    rep.on_epoch_end(EpochEnd("trial_1", 0, {"val_accuracy": 0.26}, 0, 0.26))
    rep.on_model_done(ModelDone("trial_1", ModelStatus.STOPPED, 0, 0.26, stop_reason=reason))
    line = [ln for ln in out.getvalue().splitlines() if "trial_1 STOPPED" in ln][0]
    assert f"trial_1 STOPPED after 1 epoch(s) (stopped early: {reason}):" in line
    assert "2/2 done (1 stopped early)" in line
    console = Console(file=io.StringIO(), width=200, force_terminal=False)
    console.print(rep.summary_table())
    text = console.file.getvalue()
    assert "why stopped early" in text and "STOPPED early" in text and "median stopping" in text
