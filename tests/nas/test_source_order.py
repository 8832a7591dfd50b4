"""A seeded oracle proposes the same trials whatever order the trials end in: what a trial's
build registers joins the oracle's space when it is built, not when it ends (real KerasTuner
oracle and real Keras builds; no training)."""

from __future__ import annotations

import os

import pytest

from cerebro.nas.source import OracleSource
from cerebro.wire import ModelIO, ModelStatus

IO = ModelIO(("x",), ("y",), ((4,),), ((1,),))


def _build(hp, seed):
    import keras

    layers = hp.Int("layers", 1, 3)
    x = inp = keras.Input((4,), name="x")
    for i in range(layers):  # units_1, units_2 exist only in deeper trials
        x = keras.layers.Dense(hp.Choice(f"units_{i}", [2, 4, 8, 16]))(x)
    model = keras.Model(inp, keras.layers.Dense(1, name="y")(x))
    model.compile("adam", "mse")
    return model


def _proposals(tmp_path, name: str, ended: list[int], n_first: int = 4) -> list[dict]:
    import keras_tuner as kt

    from cerebro.nas.tuner import SparkTuner

    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("val_loss", "min"),
                                           max_trials=8, seed=7)
    SparkTuner(oracle, None, str(tmp_path / name), "p", overwrite=True)  # where it saves
    space = oracle.get_space()
    _build(space, 0)  # the default build registers the top-level space, as fit does
    oracle.update_space(space)
    source = OracleSource(oracle, _build, IO, batch_size=8, epochs=1)
    first = [source.ask() for _ in range(n_first)]
    for req in first:
        req.build(0)  # the runner builds each trial as it starts
    for i in ended:
        source.report(first[i].model_id, 0, {"val_loss": 1.0 + i})
        source.finish(first[i].model_id, ModelStatus.DONE, 1.0 + i)
    later = [source.ask() for _ in range(2)]
    return [r.params for r in first + later]


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") not in (None, "torch"), reason="torch")
def test_the_next_proposals_do_not_depend_on_which_trial_ended_first(tmp_path):
    # Four trials in flight; one ends (a different one in each run), then two more are asked.
    runs = [_proposals(tmp_path, f"r{i}", [i]) for i in range(4)]
    first = runs[0]
    assert len({frozenset(p.items()) for p in first}) == 6  # six distinct trials
    assert {p["layers"] for p in first[:4]} != {1}, "the first trials differ in depth"
    assert all(r == first for r in runs[1:])
