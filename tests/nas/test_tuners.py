"""Every search algorithm drives real trials; Hyperband refills freed slots; seeds reproduce.

One cheap graph throughout, ``StructuredDataInput -> DenseBlock -> ClassificationHead``, fed
six scalar columns of sklearn's breast_cancer stacked together (or, for the Hyperband
timeline, sklearn's digits as one vector column).
"""

from __future__ import annotations

import pytest

from .helpers import (FEATURES, bind, cancer_df, dense_graph, digits_df, small_dense_hp,
                      trial_values)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def df(spark):
    return cancer_df(spark).cache()


def search(spark, store, df, tuner, max_trials=3, epochs=2, seed=1, columns=(FEATURES, "label"),
           batch_size=32, **kw):
    from cerebro.nas import HyperHyperModel

    inp, out = dense_graph()
    am = HyperHyperModel(inputs=inp, outputs=out, overwrite=True, seed=seed)
    bind(am, spark, store, columns[0], [columns[1]])
    am.tuner_bind(tuner, hyperparameters=small_dense_hp(), objective="val_accuracy",
                  max_trials=max_trials, overwrite=True, **kw)
    return am, am.fit(df, epochs=epochs, batch_size=batch_size)


@pytest.mark.parametrize("tuner, kw", [
    ("greedy", {"exploration": 0.3}),
    ("random", {}),
    ("bayesian", {}),
    ("grid", {}),
    ("hyperband", {"max_epochs": 2, "factor": 2}),
])
def test_each_tuner_runs_three_trials(spark, store, df, tuner, kw):
    am, result = search(spark, store, df, tuner, **kw)
    trials = am.tuner.oracle.trials
    assert len(trials) == 3
    assert {str(t.status) for t in trials.values()} == {"COMPLETED"}
    assert len(result.get_all_models()) == 3
    for values in trial_values(am):
        assert values["optimizer"] == "adam"  # the Fixed value holds in every trial
        assert values["dense_block_1/units_0"] in (16, 32)
    histories = result.get_all_model_history()
    if tuner == "hyperband":  # each trial trains the epochs its bracket gives it
        for trial_id, trial in trials.items():
            values = trial.hyperparameters.values
            want = values["tuner/epochs"] - values["tuner/initial_epoch"]
            assert len(histories[f"trial_{trial_id}"]["val_accuracy"]) == want
        assert {len(h["val_accuracy"]) for h in histories.values()} == {1, 2}
    else:
        assert all(len(h["val_accuracy"]) == 2 for h in histories.values())
    # The six columns were stacked into one input of six values.
    assert am.export_model().inputs[0].shape[1:] == (len(FEATURES),)
    assert result.get_best_model().history["val_accuracy"][-1] > 0.5


def test_oracle_instance_as_tuner(spark, store, df):
    import keras_tuner as kt

    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("val_accuracy", "max"),
                                           max_trials=2, seed=3)
    am, result = search(spark, store, df, oracle, max_trials=5, epochs=1)
    assert am.tuner.oracle is oracle
    assert len(oracle.trials) == 2  # the oracle's own budget, not tuner_bind's
    assert all(len(h["val_loss"]) == 1 for h in result.get_all_model_history().values())


def test_hyperband_frees_a_stopped_trials_worker_within_one_sub_epoch(spark, store):
    """Hyperband ends its round-0 trials after 1 of 3 epochs. The worker such a trial held
    must start another model's visit (a waiting one or a new trial) at once, not idle until
    the round is over. 1,200 digits in batches of 8 make a sub-epoch long next to the
    driver's work between visits (building a new trial's model takes it ~0.4 s)."""
    digits = digits_df(spark).where("id < 1200")
    am, result = search(spark, store, digits, "hyperband", max_trials=6, epochs=3,
                        columns=(["pixels"], "digit"), batch_size=8, max_epochs=3, factor=3)
    timeline = sorted(result.stats["timeline"], key=lambda v: v[3])
    epochs = {m: len(h["val_loss"]) for m, h in result.get_all_model_history().items()}
    stopped = [m for m, n in epochs.items() if n == 1]  # ended by Hyperband after 1 epoch
    assert len(epochs) == 6 and len(stopped) == 3
    # The best round-0 trial goes on from its epoch-1 state as a new trial (epochs 2 and 3).
    resumed = [f"trial_{t}" for t, tr in am.tuner.oracle.trials.items()
               if tr.hyperparameters.values.get("tuner/trial_id") is not None]
    assert [epochs[m] for m in resumed] == [2]
    # One sub-epoch: the longest training visit of this run.
    sub_epoch = max(end - start for _, _, kind, start, end in timeline if kind == "train")
    checked = 0
    for model in stopped:
        worker, _, _, _, ended = max((v for v in timeline if v[1] == model), key=lambda v: v[4])
        later = [v for v in timeline if v[0] == worker and v[3] >= ended]
        if not later:
            continue  # the search was over for this worker
        nxt = later[0]
        assert nxt[1] != model
        assert nxt[3] - ended <= sub_epoch, (model, worker, ended, nxt, sub_epoch)
        checked += 1
    assert checked >= 2


def test_same_seed_same_trials_and_visit_order(spark, tmp_path, df):
    from cerebro.storage import LocalStore
    from cerebro.storage.layout import RunLayout

    runs = []
    for i in range(2):
        store = LocalStore(str(tmp_path / f"store{i}"))
        am, result = search(spark, store, df, "greedy", seed=1, exploration=0.5,
                            strict_order=True)  # the order fixed in advance: runs compare
        layout = RunLayout(store, am.project_name)
        logs = {m: store.read_json(layout.log_key(m))["visit_log"]
                for m in result.models}
        runs.append((trial_values(am), logs))
    (values_a, logs_a), (values_b, logs_b) = runs
    assert len(values_a) == 3
    assert values_a == values_b
    assert logs_a == logs_b
    assert all(len(v) == 2 for v in logs_a.values())  # two epochs, each with its visit order
    assert all(sorted(order) == [0, 1] for v in logs_a.values() for order in v.values())
