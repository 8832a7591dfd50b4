"""The stoppers on their own: pure functions of the trials' objective curves."""

from __future__ import annotations

import pytest

from cerebro.search.stopping import (ASHAStopper, Decision, MedianStoppingRule, Progress,
                                     Stopper, Verdict, resolve_stopper)


def _at(trial: str, epoch: int, curves: dict, direction: str = "max") -> Progress:
    return Progress(trial, epoch, direction, curves, "val_accuracy")


# The seed walk-through's random search (bench-full.json, mnist-random-cerebro): val accuracy
# after epochs 1..3. trial_1 starts badly and ends second best; trial_5 is the best.
RANDOM = {"trial_0": [0.421, 0.582, 0.644], "trial_1": [0.239, 0.522, 0.704],
          "trial_2": [0.105, 0.105, 0.105], "trial_3": [0.512, 0.639, 0.689],
          "trial_5": [0.853, 0.897, 0.899]}


def _curves(d: dict, upto: dict) -> dict:
    return {t: dict(enumerate(v[:upto.get(t, len(v))])) for t, v in d.items()}


def test_median_stops_a_hopeless_trial_right_after_its_first_epoch():
    curves = {"a": {0: 0.90}, "b": {0: 0.89}, "c": {0: 0.91}, "bad": {0: 0.26}}
    verdict = MedianStoppingRule().decide(_at("bad", 0, curves))
    assert verdict.decision == Decision.STOP and verdict.stop
    assert "median stopping rule" in verdict.reason and "0.26" in verdict.reason
    assert "0.9 " in verdict.reason and "3 other trials" in verdict.reason
    for good in ("a", "c"):
        assert not MedianStoppingRule().decide(_at(good, 0, curves)).stop
    # The rule is strict about the median, even by a hair: b (0.89) is below a's 0.90, the
    # median of (0.90, 0.91, 0.26).
    assert MedianStoppingRule().decide(_at("b", 0, curves)).stop


def test_median_waits_for_min_trials_other_trials_at_that_epoch():
    curves = {"a": {0: 0.9}, "b": {0: 0.9}, "c": {}, "bad": {0: 0.1}}
    assert not MedianStoppingRule().decide(_at("bad", 0, curves)).stop  # 2 others < 3
    assert MedianStoppingRule(min_trials=2).decide(_at("bad", 0, curves)).stop


def test_median_grace_epochs():
    curves = {"a": {0: 0.9, 1: 0.9}, "b": {0: 0.9, 1: 0.9}, "c": {0: 0.9, 1: 0.9},
              "bad": {0: 0.1, 1: 0.1}}
    rule = MedianStoppingRule(grace_epochs=2)
    assert not rule.decide(_at("bad", 0, curves)).stop
    assert rule.decide(_at("bad", 1, curves)).stop


def test_median_compares_the_best_so_far_with_running_averages():
    # others' running averages at epoch 1: (0.2+0.8)/2 = 0.5 each; the trial's best is 0.6
    # (its epoch-0 value) though its latest is 0.4: it goes on.
    curves = {"a": {0: 0.2, 1: 0.8}, "b": {0: 0.2, 1: 0.8}, "c": {0: 0.2, 1: 0.8},
              "t": {0: 0.6, 1: 0.4}}
    assert not MedianStoppingRule().decide(_at("t", 1, curves)).stop
    curves["t"] = {0: 0.45, 1: 0.4}
    assert MedianStoppingRule().decide(_at("t", 1, curves)).stop


def test_median_minimises_too_and_ties_go_on():
    curves = {"a": {0: 1.0}, "b": {0: 2.0}, "c": {0: 3.0}, "t": {0: 2.0}}
    assert not MedianStoppingRule().decide(_at("t", 0, curves, "min")).stop  # equal: go on
    curves["t"] = {0: 2.5}
    verdict = MedianStoppingRule().decide(_at("t", 0, curves, "min"))
    assert verdict.stop and "above the median 2" in verdict.reason


def test_median_ignores_other_trials_that_did_not_reach_the_epoch_and_missing_values():
    curves = {"a": {0: 0.9}, "b": {0: 0.9}, "c": {0: 0.9}, "t": {0: 0.1, 1: 0.1},
              "nan_only": {}}
    assert not MedianStoppingRule().decide(_at("t", 1, curves)).stop  # nobody else at 1
    assert not MedianStoppingRule().decide(_at("nan_only", 0, curves)).stop


def test_median_on_the_seed_walk_through_keeps_the_best_trial():
    # trial_5 started after trials 0-3 had ended; trial_1 is judged when 0, 2, 3 had epoch 1.
    rule = MedianStoppingRule()
    curves = _curves(RANDOM, {"trial_1": 1, "trial_5": 1})
    assert rule.decide(_at("trial_1", 0, curves)).stop  # 0.239 < median(0.421, .105, .512)
    assert not rule.decide(_at("trial_5", 0, curves)).stop
    assert rule.decide(_at("trial_2", 0, _curves(RANDOM, {"trial_2": 1}))).stop


def test_asha_keeps_the_top_third_at_each_rung():
    asha = ASHAStopper(grace_epochs=1, reduction_factor=3)
    assert [asha.is_rung(n) for n in range(1, 10)] == [True, False, True, False, False,
                                                       False, False, False, True]
    curves = {"a": {0: 0.9}, "b": {0: 0.5}, "t": {0: 0.6}}
    assert asha.decide(_at("t", 0, curves)).stop  # top 1 of 3 is a (0.9)
    assert not asha.decide(_at("a", 0, curves)).stop
    assert not asha.decide(_at("t", 1, {**curves, "t": {0: 0.6, 1: 0.1}})).stop  # no rung
    assert not asha.decide(_at("t", 0, {"t": {0: 0.1}})).stop  # the first at a rung goes on


class Never(Stopper):
    name = "never"

    def decide(self, progress: Progress) -> Verdict:
        return Verdict(Decision.CONTINUE)


def test_resolve_stopper_choices_and_refusals():
    assert isinstance(resolve_stopper("median"), MedianStoppingRule)
    assert isinstance(resolve_stopper("asha"), ASHAStopper)
    assert resolve_stopper(None) is None and resolve_stopper(False) is None
    mine = Never()
    assert resolve_stopper(mine) is mine
    for bad in ("Median", "mean", 3, True, MedianStoppingRule):
        with pytest.raises(ValueError, match=r"early_stopping=.*'median', 'asha', None"):
            resolve_stopper(bad)
    with pytest.raises(ValueError, match="grace_epochs must be an int >= 1, got 0"):
        MedianStoppingRule(grace_epochs=0)
    with pytest.raises(ValueError, match="direction"):
        Progress("t", 0, "up", {})


def test_earlier_trials_curves_come_from_their_logs():
    from cerebro.engine.runs import Objective
    from cerebro.search.early import EarlyStopping

    early = EarlyStopping(MedianStoppingRule(), Objective("val_loss", "min"))
    early.note_log("done", {"history": {"val_loss": [0.9, 0.5, float("nan")],
                                        "train_loss": [1.0, 0.6, 0.4]}, "epochs_done": 3})
    early.note_log("child", {"history": {"val_loss": [0.4, 0.3]}, "epochs_done": 4})
    early.note_log("empty", {"history": {}, "epochs_done": 0})
    assert early.curves == {"done": {0: 0.9, 1: 0.5}, "child": {2: 0.4, 3: 0.3}}
