"""One best everywhere: the engine computes a model's best epoch once (``ModelRun``) and the
console, the records and the result's state take it from the events, never recompute it.

Fast: the in-process ``ScriptedPool`` (no Spark, no Keras), the real ``EventBus``,
``ProgressReporter`` and ``Recorder``."""

from __future__ import annotations

from cerebro.backend.scripted import Outcome, ScriptedPool
from cerebro.engine import EventBus, LivenessPolicy, ModelHopper, ModelRun, PoolSupervisor
from cerebro.engine.runs import Objective
from cerebro.progress import ProgressReporter
from cerebro.records import RecordsDB, Recorder, queries
from cerebro.storage import LocalStore
from cerebro.storage.layout import RunLayout
from cerebro.wire import ModelIO

IO = ModelIO(("x",), ("y",), ((1,),), ((1,),))
# val_accuracy per (model, epoch): ties and a late dip, so "best" is not "last" nor "max index"
CURVES = {"a": [0.5, 0.8, 0.8, 0.6], "b": [0.9, 0.7, 0.9, 0.95], "c": [0.4, 0.4, 0.3, 0.35]}


class Plan:
    """Adds every model at once; nothing else."""

    def refill(self, hopper: ModelHopper) -> None:
        for model_id, curve in CURVES.items():
            if model_id not in hopper.runs:
                hopper.add_model(ModelRun(model_id, hopper.layout.spec_key(model_id), IO, 8,
                                          seed_key=model_id), len(curve))

    def on_epoch_end(self, hopper, model_id, epoch, metrics) -> None:
        pass

    def on_model_done(self, hopper, model_id) -> None:
        pass

    def on_model_failed(self, hopper, model_id, error, reason) -> None:
        raise AssertionError(error)

    def add_manual(self, hopper, params) -> str:
        raise AssertionError(params)


def test_console_records_and_result_state_take_the_engines_best(tmp_path):
    def script(worker, task):
        return Outcome(metrics={"accuracy": CURVES[task.model_id][task.epoch], "loss": 1.0})

    store = LocalStore(str(tmp_path / "store"))
    pool = ScriptedPool(2, script, store=store)
    supervisor = PoolSupervisor(lambda: pool, LivenessPolicy(floor_s=5.0), clock=pool.clock)
    console = ProgressReporter(None, "val_accuracy", 2, verbose=0)
    db = RecordsDB(str(tmp_path))
    recorder = Recorder(db, "proj", metric="val_accuracy", direction="max")
    bus = EventBus([console, recorder])
    hopper = ModelHopper(supervisor, RunLayout(store, "proj"), Objective("val_accuracy", "max"),
                         2, seed=1, emit=bus.emit)
    hopper.run(Plan())
    bus.close()
    recorder.done()

    trials = {t["model_id"]: t for t in queries.list_trials(db, recorder.experiment_id)}
    for model_id, curve in CURVES.items():
        run = hopper.runs[model_id]
        first_best = curve.index(max(curve))  # KerasTuner: the first best epoch, for "max"
        assert (run.best_epoch, run.best_value) == (first_best, max(curve)), model_id
        shown = console.models[model_id]
        assert (shown["best_epoch"], shown["best"]) == (first_best, max(curve))
        assert (trials[model_id]["best_epoch"], trials[model_id]["best_value"]) == \
            (first_best + 1, max(curve))  # the records count epochs from 1
        # the result's state is the best epoch's: its last training visit (2 per epoch)
        assert run.result_state_key == hopper.layout.state_key(model_id, 2 * (first_best + 1))
        assert queries.get_trial(db, trials[model_id]["id"])["state_key"] == run.result_state_key
    assert console.best() == ("b", 0.95)
    assert queries.list_experiments(db)[0]["best_model_id"] == "b"
