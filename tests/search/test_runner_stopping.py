"""Early stopping in the ``SearchRunner`` on the in-process ``ScriptedPool`` (no Spark, no
Keras training, virtual time): a hopeless trial ends after its first epoch, its slot goes
to the next trial at once, and every view of the search shows it stopped with its reason."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import pytest

from cerebro.backend.scripted import Outcome, ScriptedPool
from cerebro.engine.runs import Objective
from cerebro.search import BuiltModel, RunnerSettings, SearchRunner, TrialRequest, TrialSource
from cerebro.search.source import DONE, Ask
from cerebro.search.stopping import MedianStoppingRule, Stopper
from cerebro.storage import LocalStore
from cerebro.wire import ModelIO, ModelStatus, VisitTask

IO = ModelIO(("x",), ("y",), ((1,),), ((1,),))
HOPELESS = "t4"
# val_loss at the first epoch (halved by the second, ...): t4 is far worse than the rest,
# t0 the best, the others level with the median (the rule stops only below it).
LOSS = {f"t{i}": 1.0 for i in range(8)}
LOSS["t0"], LOSS[HOPELESS] = 0.9, 5.0


@dataclasses.dataclass
class Backend:
    """Starts a ``ScriptedPool`` (what a ``SparkBackend`` does with Spark workers) whose
    visits report ``loss[model] / (1 + epoch)``."""

    loss: dict[str, float]
    num_workers: int = 2
    pool: Optional[ScriptedPool] = None
    visit_timeout: Optional[float] = None  # the rest of cerebro.engine.ports.Backend
    visit_deadline_floor: float = 60.0
    max_restarts: int = 10
    heartbeat_timeout: Optional[float] = 10.0

    def quiet_console(self) -> None:
        pass

    def script(self, worker: int, task: VisitTask) -> Outcome:
        return Outcome(seconds=1.0, metrics={"loss": self.loss[task.model_id] / (1 + task.epoch)})

    def start_workers(self, store: Any, dataset: Any, columns: Any) -> ScriptedPool:
        self.pool = ScriptedPool(self.num_workers, self.script, store=store)
        return self.pool


class ListSource(TrialSource):
    """Trials t0..t7 in order, 3 epochs each; remembers how each ended."""

    def __init__(self, n: int = 8, epochs: int = 3) -> None:
        self.objective = Objective("val_loss", "min")
        self.budget, self.name = n, "ListSource"
        self.todo = [f"t{i}" for i in range(n)]
        self.epochs = epochs
        self.ended: dict[str, tuple[ModelStatus, str]] = {}

    def ask(self) -> Ask:
        if not self.todo:
            return DONE
        model_id = self.todo.pop(0)
        return TrialRequest(model_id, {"i": model_id}, self.epochs,
                            lambda seed: BuiltModel(b"spec", 8, IO), seed_key=model_id)

    def finish(self, model_id: str, status: ModelStatus, best_value: Optional[float] = None,
               error: str = "", reason: str = "") -> None:
        self.ended[model_id] = (status, reason)


def _search(tmp_path, stopper: Optional[Stopper], loss: Optional[dict[str, float]] = None,
            records: Any = False, strict_order: bool = False):
    events: list[tuple[str, dict]] = []
    store = LocalStore(str(tmp_path / "store"))
    settings = RunnerSettings(project="p", parallelism=4, output_names=["y__output"],
                              verbose=0, records=records, stopper=stopper,
                              strict_order=strict_order,
                              listeners=(lambda kind, payload: events.append((kind, payload)),))
    source = ListSource()
    runner = SearchRunner(Backend(loss or LOSS), store, source, settings, dataset=None,
                          columns=("x", "y"))
    result = runner.run()
    return result, source, events


def _train_visits(events, model_id: str) -> int:
    return sum(1 for k, p in events
               if k == "visit_done" and p["model_id"] == model_id and p["kind"] == "train")


def test_early_stopping_ends_a_hopeless_trial_after_its_first_epoch_and_refills_its_slot(
        tmp_path):
    result, source, events = _search(tmp_path, MedianStoppingRule(), records=None)

    assert source.ended[HOPELESS][0] == ModelStatus.STOPPED
    reason = source.ended[HOPELESS][1]
    assert reason.startswith("median stopping rule: best val_loss 5 after epoch 1")
    assert _train_visits(events, HOPELESS) == 2  # one epoch on 2 partitions
    # its slot is refilled at once: the next trial is added before any other visit ends
    kinds = [(k, p.get("model_id")) for k, p in events]
    stopped_at = kinds.index(("model_done", HOPELESS))
    added_at = next(i for i in range(stopped_at, len(kinds)) if kinds[i][0] == "model_added")
    assert not any(k == "visit_done" for k, _ in kinds[stopped_at:added_at])
    assert sum(k == "model_added" for k, _ in kinds) == 8
    assert [p["status"] for k, p in events
            if k == "model_done" and p["model_id"] == HOPELESS] == ["STOPPED"]
    # the other trials trained every epoch, and the best one is among them
    for i in (0, 1, 2, 3, 5, 6, 7):
        assert source.ended[f"t{i}"][0] == ModelStatus.DONE, i
        assert _train_visits(events, f"t{i}") == 6, i
    assert result.best_model.model_id == "t0"
    assert result.statuses[HOPELESS] == "STOPPED"
    assert result.stop_reasons == {HOPELESS: reason}
    table = result.to_pandas().set_index("model_id")
    assert table.loc[HOPELESS, "status"] == "STOPPED"
    assert table.loc[HOPELESS, "stop_reason"] == reason
    assert table.loc[HOPELESS, "epochs"] == 1
    # the records (what the dashboard shows) have it STOPPED with its reason
    from cerebro.records import RecordsDB, queries

    db = RecordsDB(LocalStore(str(tmp_path / "store")))
    trials = {t["model_id"]: t for t in queries.list_trials(db, queries.resolve_experiment(db, None))}
    assert trials[HOPELESS]["status"] == "STOPPED" and trials[HOPELESS]["stop_reason"] == reason
    assert trials[HOPELESS]["epochs_done"] == 1
    assert {t["stop_reason"] for m, t in trials.items() if m != HOPELESS} == {""}


def test_a_hopeless_trial_among_the_first_is_judged_again_as_the_others_catch_up(tmp_path):
    # t3 starts with t0-t2 (parallelism 4); when its first epoch ends, fewer than 3 others
    # have reached it: undecided. Once they have, it is stopped during its second epoch.
    loss = {**LOSS, HOPELESS: 1.0, "t3": 5.0}
    result, source, events = _search(tmp_path, MedianStoppingRule(), loss,
                                     strict_order=True)  # lock-step: t3 ends epoch 0 first
    assert source.ended["t3"][0] == ModelStatus.STOPPED
    assert "median stopping rule: best val_loss 5 after epoch 1" in source.ended["t3"][1]
    seq = [(k, p["model_id"], p.get("epoch")) for k, p in events if k in ("epoch_end",
                                                                          "model_done")]
    t3_judged = seq.index(("epoch_end", "t3", 0))
    last_at_0 = max(seq.index(("epoch_end", m, 0)) for m in ("t0", "t1", "t2"))
    assert t3_judged < last_at_0 < seq.index(("model_done", "t3", None))  # judged again
    assert _train_visits(events, "t3") < 6
    assert {m for m, (s, _) in source.ended.items() if s == ModelStatus.STOPPED} == {"t3"}
    assert result.to_pandas().set_index("model_id").loc["t3", "epochs"] == 1


def test_without_early_stopping_every_trial_trains_every_epoch(tmp_path):
    result, source, events = _search(tmp_path, None)
    assert {s for s, _ in source.ended.values()} == {ModelStatus.DONE}
    assert _train_visits(events, HOPELESS) == 6
    assert result.stop_reasons == {}
    assert set(result.to_pandas()["stop_reason"]) == {""}  # the column is always there


class Raises(Stopper):
    def decide(self, progress):
        raise RuntimeError("bug in a user's stopper")


def test_a_stopper_that_raises_lets_the_trial_go_on(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="cerebro"):
        _, source, _ = _search(tmp_path, Raises())
    assert {s for s, _ in source.ended.values()} == {ModelStatus.DONE}
    assert "bug in a user's stopper" in caplog.text


@pytest.mark.parametrize("value", ["mean", 2, "MEDIAN"])
def test_a_bad_early_stopping_value_is_refused_before_training(tmp_path, value):
    from cerebro.tune import GridSearch, hp_choice

    with pytest.raises(ValueError, match=rf"early_stopping={value!r} is not a choice.*'median'"):
        GridSearch(None, LocalStore(str(tmp_path / "s")), lambda params: None,
                   {"lr": hp_choice([0.1])}, num_epochs=1, early_stopping=value)


def test_the_defaults_nas_auto_is_the_median_rule_off_under_hyperband_tune_is_off(tmp_path):
    from cerebro.nas.settings import AUTO, TunerSettings, check_early_stopping, nas_stopper
    from cerebro.tune import GridSearch, hp_choice

    assert TunerSettings().early_stopping == AUTO
    auto = nas_stopper(AUTO, hyperband=False)
    assert isinstance(auto, MedianStoppingRule)
    assert (auto.grace_epochs, auto.min_trials) == (1, 3)
    assert nas_stopper(AUTO, hyperband=True) is None
    assert isinstance(nas_stopper("median", hyperband=True), MedianStoppingRule)
    assert nas_stopper(None, hyperband=False) is None
    with pytest.raises(ValueError, match=r"early_stopping='Auto' is not a choice.*'auto'"):
        check_early_stopping("Auto")

    def grid(**kw):
        return GridSearch(None, LocalStore(str(tmp_path / "s")), lambda params: None,
                          {"lr": hp_choice([0.1])}, num_epochs=1, **kw)

    assert grid().stopper is None
    assert isinstance(grid(early_stopping="median").stopper, MedianStoppingRule)
