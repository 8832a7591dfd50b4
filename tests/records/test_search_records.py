"""Records written live by a real GridSearch on Spark local mode (2 MLPs x 2 epochs)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cerebro.records import RecordsDB, queries
from cerebro.records.models import EpochMetric, Experiment, Trial, Visit

from .conftest import grid_search

pytestmark = pytest.mark.slow

EPOCHS = 2


@pytest.fixture(scope="module")
def searched(spark, digits_df, tmp_path_factory):
    from cerebro.storage import LocalStore

    store = LocalStore(str(tmp_path_factory.mktemp("records") / "store"))
    result = grid_search(spark, store, units=(8, 16), epochs=EPOCHS).fit(digits_df)
    return result, store


def test_records_live_in_the_store(searched):
    _, store = searched
    assert store.exists("cerebro.db")
    db = RecordsDB(store)
    assert {"experiments", "trials", "epoch_metrics", "visits", "commands",
            "alembic_version"} <= set(db.tables())


def test_experiment_and_trials_match_the_result(searched):
    result, store = searched
    db = RecordsDB(store)
    [exp] = queries.list_experiments(db)
    assert exp["status"] == "DONE" and exp["kind"] == "tune"
    assert exp["metric"] == "val_accuracy" and exp["num_workers"] == 2 and exp["budget"] == 2
    assert exp["ended_at"] is not None and exp["trial_status"] == {"DONE": 2}
    assert 0 < exp["stats"]["utilisation"] <= 1
    trials = queries.list_trials(db, exp["id"])
    assert {t["model_id"] for t in trials} == set(result.models)
    for t in trials:
        model = result.models[t["model_id"]]
        assert t["hyperparameters"] == {"units": model.params["units"]}
        assert t["status"] == "DONE" and t["epochs_done"] == EPOCHS == t["epochs_planned"]
        assert t["ended_at"] >= t["created_at"]
        history = queries.get_trial(db, t["id"])["history"]
        assert set(history) == set(model.history)
        for name, values in model.history.items():
            assert history[name] == pytest.approx(values)
        accs = model.history["val_accuracy"]  # KerasTuner's best: the first best epoch
        assert t["best_epoch"] == accs.index(max(accs)) + 1
        assert t["best_value"] == pytest.approx(max(accs))
        assert t["started_at"] and t["duration_s"] > 0 and t["compute_s"] > 0
    best = queries.get_experiment(db, exp["id"])["best"]
    assert best["model_id"] == result.get_best_model().model_id


def test_schedule_is_a_valid_mop_schedule(searched):
    _, store = searched
    db = RecordsDB(store)
    eid = queries.resolve_experiment(db, None)
    visits = queries.schedule(db, eid)
    # every model trains and evaluates on each of the 2 partitions in each epoch
    assert len(visits) == 2 * EPOCHS * 2 * 2
    for v in visits:
        assert v["worker"] in (0, 1) and v["kind"] in ("train", "eval")
        assert 1 <= v["epoch"] <= EPOCHS and 0 <= v["start_s"] <= v["end_s"]
        assert v["status"] == "done"  # visit_started opened it, visit_done closed it
    for worker in (0, 1):  # a worker runs one visit at a time
        spans = sorted((v["start_s"], v["end_s"]) for v in visits if v["worker"] == worker)
        assert all(a[1] <= b[0] + 1e-3 for a, b in zip(spans, spans[1:]))
    by_model: dict[str, list] = {}
    for v in visits:  # a model is on one worker at a time
        by_model.setdefault(v["model_id"], []).append((v["start_s"], v["end_s"]))
    for spans in by_model.values():
        spans.sort()
        assert all(a[1] <= b[0] + 1e-3 for a, b in zip(spans, spans[1:]))
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Visit)) == len(visits)
        n_metrics = s.scalar(select(func.count()).select_from(EpochMetric))
        assert n_metrics == 2 * EPOCHS * 4  # train/val x loss/accuracy
        assert s.scalar(select(func.count()).select_from(Trial)) == 2
        assert s.scalar(select(func.count()).select_from(Experiment)) == 1
