"""One "best" everywhere: the console's, the result's, the records' and the exported model's
are KerasTuner's (the objective's best epoch by its direction), with the same epoch."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import grid_search

pytestmark = pytest.mark.slow


def test_console_result_records_and_export_agree(spark, digits_df, tmp_path):
    from cerebro.progress import ProgressReporter
    from cerebro.records import RecordsDB, queries
    from cerebro.storage import LocalStore

    store = LocalStore(str(tmp_path / "store"))
    console = ProgressReporter(None, "val_accuracy", 2, verbose=0)  # what the console tracks
    search = grid_search(spark, store, units=(4, 16), epochs=3, listeners=[console])
    result = search.fit(digits_df)

    best = result.get_best_model()
    curve = best.history["val_accuracy"]
    best_epoch = int(np.argmax(curve))  # KerasTuner: the first best epoch, for "max"
    ranked = {m: max(model.history["val_accuracy"]) for m, model in result.models.items()}
    assert best.model_id == max(ranked, key=ranked.get)

    # the console's best: same trial, same value, same (1-based) epoch shown
    assert console.best() == (best.model_id, pytest.approx(curve[best_epoch]))
    assert console.models[best.model_id]["best_epoch"] == best_epoch

    # the records' best (the dashboard and report read these)
    db = RecordsDB(store)
    (exp,) = queries.list_experiments(db)
    trials = {t["model_id"]: t for t in queries.list_trials(db, exp["id"])}
    assert trials[best.model_id]["best_value"] == pytest.approx(curve[best_epoch])
    assert trials[best.model_id]["best_epoch"] == best_epoch + 1  # records count from 1
    assert exp["best_model_id"] == best.model_id

    # the exported model is that epoch's: its accuracy on the validation rows is the score
    val = digits_df.filter("is_val").toPandas()
    x = np.stack(val["features"].map(lambda v: v.toArray()).to_numpy())
    acc = float(np.mean(np.argmax(best.keras().predict(x, verbose=0), 1) == val["label"]))
    assert acc == pytest.approx(curve[best_epoch], abs=1e-6)
