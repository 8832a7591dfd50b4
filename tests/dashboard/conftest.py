"""A records database filled by the Recorder from a made-up search (no Spark: fast)."""

from __future__ import annotations

import pytest

from cerebro.records import RecordsDB, Recorder
from cerebro.wire import EpochEnd, ModelAdded, ModelDone, ModelFailed, ModelStatus, VisitDone

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def fill(target, name: str = "GridSearch-abc", finish: bool = False) -> int:
    """Records 3 trials x 2 epochs on 2 workers (m1 best, m2 failed); returns the id."""
    params = {"m0": {"units": 8, "lr": 0.01}, "m1": {"units": 16, "lr": 0.001},
              "m2": {"units": 32, "lr": 0.1}}
    rec = Recorder(target, name, metric="val_accuracy", num_workers=2, budget=3,
                   params=lambda mid: params[mid])
    for mid in params:
        rec.on_model_added(ModelAdded(mid, epochs=2))
        for e in range(2 if mid != "m2" else 1):
            for kind in ("train", "eval"):
                for w in range(2):
                    rec.on_visit_done(VisitDone(mid, kind, e, w, {}, 0.005))
            acc = 0.5 + 0.1 * e + (0.2 if mid == "m1" else 0.0)  # rising: the best is the last
            rec.on_epoch_end(EpochEnd(mid, e, {"val_accuracy": acc, "val_loss": 1 - acc,
                                               "train_accuracy": acc - 0.05,
                                               "train_loss": 1.05 - acc}, e, acc))
    rec.on_model_done(ModelDone("m0", status=ModelStatus.DONE))
    rec.on_model_failed(ModelFailed("m2", error="ValueError: <b>bad</b> trial"))
    if finish:
        rec.on_model_done(ModelDone("m1", status=ModelStatus.DONE))
        rec.done({"utilisation": 0.8, "hop_overhead": 0.01, "wall_s": 12.5})
        rec.close()
    return rec.experiment_id


@pytest.fixture
def records(tmp_path):
    """(store dir, RecordsDB, experiment id) of a running made-up search."""
    eid = fill(str(tmp_path))
    return tmp_path, RecordsDB(str(tmp_path)), eid


@pytest.fixture
def client(records):
    from fastapi.testclient import TestClient

    from cerebro.dashboard import create_app

    return TestClient(create_app(records[1], token=TOKEN))
