"""The KerasTuner state of a search on a remote store (S3, via the moto test server) lives
in the store: a rerun from another machine (here: with the local mirror deleted and another
working directory) resumes the search with its finished trials."""

from __future__ import annotations

import os
import shutil

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3_endpoint():
    from s3_server import moto_server

    with moto_server() as endpoint:
        yield endpoint


def _fit(spark, store, df, max_trials, overwrite):
    from nas.helpers import FEATURES, bind, dense_graph, small_dense_hp

    from cerebro.nas.hphpmodel import HyperHyperModel

    inp, out = dense_graph()
    am = HyperHyperModel(inputs=inp, outputs=out, overwrite=True, seed=2)
    am.tuner_bind("randomsearch", hyperparameters=small_dense_hp(), objective="val_accuracy",
                  max_trials=max_trials, overwrite=overwrite)  # before resource_bind
    bind(am, spark, store, FEATURES, ["label"])
    return am, am.fit(df, epochs=1)


def test_state_in_the_remote_store_resumes_elsewhere(spark, s3_endpoint, tmp_path,
                                                     monkeypatch):
    from nas.helpers import cancer_df
    from s3_server import s3_store

    from cerebro.nas import tuner_state

    store = s3_store(s3_endpoint)
    df = cancer_df(spark).cache()
    monkeypatch.chdir(tmp_path)
    am, result = _fit(spark, store, df, 2, overwrite=True)
    first = {m: h["val_accuracy"] for m, h in result.get_all_model_history().items()}
    assert len(first) == 2
    assert store.exists(f"nas/{am.project_name}/oracle.json")  # pushed to S3
    assert not os.path.exists(tmp_path / "cerebro_nas")

    shutil.rmtree(tuner_state.local_dir(store))  # "another machine": no local mirror
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    am2, resumed = _fit(spark, store, df, 3, overwrite=False)
    histories = resumed.get_all_model_history()
    assert len(am2.tuner.oracle.trials) == 3 and len(histories) == 3
    for model_id, val in first.items():  # kept, not trained again
        assert histories[model_id]["val_accuracy"] == val
