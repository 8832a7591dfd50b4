"""Parallel-aware proposals: real KerasTuner/AutoKeras oracles over the seed's ConvBlock
search space, driven as the search runner drives them (several trials in flight), no
training (the scores are given by hand)."""

from __future__ import annotations

import keras_tuner as kt
import pytest

from cerebro.nas.oracles import make_oracle
from cerebro.nas.proposals import neighbours, values_key


def seed_space() -> kt.HyperParameters:
    """The hyperparameters that ``ImageInput -> Normalization -> ConvBlock ->
    ClassificationHead`` registers, the learning rate fixed as in the seed."""
    hp = kt.HyperParameters()
    hp.Fixed("learning_rate", 0.0001)
    hp.Choice("conv_block_1/kernel_size", [3, 5, 7], default=3)
    hp.Boolean("conv_block_1/separable", default=False)
    hp.Boolean("conv_block_1/max_pooling", default=True)
    hp.Choice("conv_block_1/num_blocks", [1, 2, 3], default=2)
    hp.Choice("conv_block_1/num_layers", [1, 2], default=2)
    for i in range(2):
        for j in range(2):
            hp.Choice(f"conv_block_1/filters_{i}_{j}", [16, 32, 64, 128, 256, 512], default=32)
    hp.Choice("conv_block_1/dropout", [0.0, 0.25, 0.5], default=0.0)
    hp.Choice("classification_head_1/dropout", [0.0, 0.25, 0.5], default=0.0)
    hp.Choice("optimizer", ["adam", "sgd", "adam_weight_decay"], default="adam")
    return hp


def oracle_for(tmp_path, tuner="greedy", max_trials=20, proposals="parallel", **kw):
    oracle = make_oracle(tuner, kt.Objective("val_accuracy", "max"), max_trials, seed_space(),
                         seed=3, max_epochs=kw.pop("max_epochs", None), proposals=proposals, **kw)
    # A KerasTuner tuner gives the oracle its project directory (public construction).
    kt.engine.base_tuner.BaseTuner(oracle, hypermodel=lambda hp: None, directory=str(tmp_path),
                                   project_name="p", overwrite=True)
    oracle.verbose = 0
    return oracle


def ask(oracle, n, start=0):
    return [oracle.create_trial(f"w{start + i}") for i in range(n)]


def finish(oracle, trial, score):
    oracle.update_trial(trial.trial_id, {"val_accuracy": score}, step=0)
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def moved_from_defaults(values):
    defaults = {h.name: h.default for h in seed_space().space}
    return {k for k, v in values.items() if k in defaults and defaults[k] != v}


@pytest.mark.parametrize("tuner", ["greedy", "bayesian"])
def test_first_parallel_wave_is_defaults_then_near_defaults(tmp_path, tuner):
    oracle = oracle_for(tmp_path, tuner, exploration=0.3) if tuner == "greedy" else \
        oracle_for(tmp_path, tuner)
    trials = ask(oracle, 4)  # parallelism 4, nothing scored yet
    assert [str(t.status) for t in trials] == ["RUNNING"] * 4
    values = [t.hyperparameters.values for t in trials]
    assert moved_from_defaults(values[0]) == set()  # the defaults first
    for v in values[1:]:
        assert len(moved_from_defaults(v)) == 1  # one hyperparameter moved one step
        name = moved_from_defaults(v).pop()
        hp = {h.name: h for h in seed_space().space}[name]
        assert v[name] in neighbours(hp, hp.default)
        assert v["learning_rate"] == 0.0001
    assert len({values_key(v) for v in values}) == 4
    # each near-default moves a different hyperparameter: pending ones are taken
    assert len({frozenset(moved_from_defaults(v)) for v in values[1:]}) == 3


def test_pending_trials_are_never_reproposed(tmp_path):
    oracle = oracle_for(tmp_path, max_trials=40, exploration=0.3)
    seen, pending = set(), ask(oracle, 4)
    for t in pending:
        seen.add(values_key(t.hyperparameters.values))
    for step in range(30):  # one finishes, one is asked: always 4 in flight
        done = pending.pop(0)
        finish(oracle, done, 0.5 + 0.01 * (step % 7))
        new = oracle.create_trial(f"x{step}")
        assert str(new.status) == "RUNNING"
        key = values_key(new.hyperparameters.values)
        assert key not in seen, f"trial {step} re-proposed {key}"
        seen.add(key)
        pending.append(new)


def test_greedy_steps_from_the_best_scored_trial(tmp_path):
    oracle = oracle_for(tmp_path, exploration=0.0)
    first = ask(oracle, 3)
    finish(oracle, first[1], 0.9)  # a near-default is best
    best = first[1].hyperparameters.values
    new = oracle.create_trial("w9").hyperparameters.values
    moved = {k for k in best if k in new and best[k] != new[k]}
    assert 1 <= len(moved) <= 2


def test_hyperband_fills_a_bracket_in_parallel(tmp_path):
    oracle = oracle_for(tmp_path, "hyperband", max_epochs=9, factor=3)
    trials = ask(oracle, 6)
    assert [str(t.status) for t in trials] == ["RUNNING"] * 6  # no waiting for a round
    values = [t.hyperparameters.values for t in trials]
    assert len({values_key(v) for v in values}) == 6
    assert moved_from_defaults(values[0]) == set()
    assert all(v["tuner/round"] == 0 for v in values)
    brackets = {v["tuner/bracket"] for v in values}
    for t in trials:  # finishing a round's members promotes one while others still run
        finish(oracle, t, 0.5)
    nxt = oracle.create_trial("w-next")
    assert str(nxt.status) == "RUNNING"
    assert nxt.hyperparameters.values["tuner/bracket"] in brackets | {min(brackets) - 1}


def test_initial_hps_pending_reads_the_public_state(tmp_path):
    """``initial_hps_pending`` reads AutoKeras's public ``get_state()["tried_initial_hps"]``:
    pending until the greedy oracle handed the user's initial values out."""
    from autokeras.tuners.greedy import GreedyOracle

    from cerebro.nas.proposals import initial_hps_pending

    oracle = GreedyOracle(objective=kt.Objective("val_accuracy", "max"), max_trials=2,
                          initial_hps=[{"optimizer": "sgd"}], hyperparameters=seed_space())
    assert oracle.get_state()["tried_initial_hps"] == [False]
    assert initial_hps_pending(oracle)
    assert oracle.populate_space("t0")["values"]["optimizer"] == "sgd"  # the initial values
    assert not initial_hps_pending(oracle)
    assert not initial_hps_pending(kt.oracles.RandomSearchOracle(max_trials=1))


def test_unknown_proposals_option(tmp_path):
    with pytest.raises(ValueError, match="proposals"):
        oracle_for(tmp_path, proposals="clever")


def test_same_seed_same_proposals(tmp_path):
    def run(d):
        oracle = oracle_for(d, exploration=0.3)
        trials = ask(oracle, 4)
        finish(oracle, trials[2], 0.8)
        trials += ask(oracle, 3, start=4)
        return [values_key(t.hyperparameters.values) for t in trials]

    assert run(tmp_path / "a") == run(tmp_path / "b")
