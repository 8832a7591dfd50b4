"""Class labels of every kind: int, double and string scalars and one-hot vectors, decoded
back to the original values by ``predict``; and the label errors raised before training."""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import bind, dense_graph, iris_df, small_dense_hp

LABELS = ["species", "name", "size", "onehot"]  # int (3 classes), str (3), double (2), vector


@pytest.fixture(scope="module")
def fitted(spark, tmp_path_factory):
    from cerebro.nas import HyperHyperModel
    from cerebro.storage import LocalStore

    df = iris_df(spark).cache()
    inp, outs = dense_graph(heads=len(LABELS))
    am = HyperHyperModel(inputs=inp, outputs=outs, overwrite=True, seed=5)
    bind(am, spark, LocalStore(str(tmp_path_factory.mktemp("labels") / "store")),
         ["a", "b", "c", "d"], LABELS, metric="loss")
    am.tuner_bind("random", hyperparameters=small_dense_hp(), objective="val_loss",
                  max_trials=1, overwrite=True)
    result = am.fit(df, epochs=2, batch_size=8)
    return am, result, df


@pytest.mark.slow
def test_every_label_kind_trains_and_decodes(fitted):
    am, result, df = fitted
    model = am.export_model()
    # 3 classes -> softmax over 3; 2 classes -> one sigmoid; one-hot of 3 -> 3
    assert [tuple(t.shape[1:]) for t in model.outputs] == [(3,), (3,), (1,), (3,)]
    assert len(result.get_best_model().history["val_loss"]) == 2

    rows = am.predict(df).collect()
    names = sorted({r["name"] for r in rows})
    expected = {"species": [0, 1, 2], "name": names, "size": [0.5, 2.5], "onehot": [0, 1, 2]}
    for label in LABELS:
        probs = np.array([r[f"{label}__pred"] for r in rows])
        decoded = [r[f"{label}__class"] for r in rows]
        if label == "size":  # binary: class 1 (2.5) when p > 0.5
            want = [2.5 if p > 0.5 else 0.5 for p in probs]  # a one-value output is a double
        else:
            want = [expected[label][i] for i in probs.argmax(axis=1)]
        assert decoded == want, label
        assert type(decoded[0]) is type(expected[label][0]), label

    # numpy in, numpy out: one array of original labels per head, as from the DataFrame
    x = np.array([[r["a"], r["b"], r["c"], r["d"]] for r in rows], np.float32)
    out = am.predict(x)
    assert len(out) == 4 and all(isinstance(o, np.ndarray) for o in out)
    for label, got in zip(LABELS, out):
        assert list(got) == [r[f"{label}__class"] for r in rows], label

    metrics = am.evaluate(df)
    for i in range(1, 5):
        assert 0.0 <= metrics[f"classification_head_{i}_accuracy"] <= 1.0


def _am(spark, store, labels=("label",)):
    from cerebro.nas import HyperHyperModel

    inp, out = dense_graph(heads=len(labels))
    am = HyperHyperModel(inputs=inp, outputs=out, overwrite=True)
    bind(am, spark, store, ["a", "b"], list(labels))
    am.tuner_bind("random", objective="val_loss", max_trials=1, overwrite=True)
    return am


def _nothing_trained(store) -> bool:
    return store.listdir(store.runs_key()) == [] and not store.exists(store.metadata_key())


def test_single_class_label_is_refused_before_training(spark, store):
    df = spark.createDataFrame([(float(i), float(-i), 1) for i in range(40)], ["a", "b", "label"])
    with pytest.raises(ValueError, match="single class"):
        _am(spark, store).fit(df, epochs=1)
    assert _nothing_trained(store)


@pytest.mark.parametrize("labels", [[0, 1, None, 1], ["x", None, "y", "x"]])
def test_null_labels_are_refused_before_training(spark, store, labels):
    rows = [(float(i), 1.0, labels[i % 4]) for i in range(40)]
    df = spark.createDataFrame(rows, "a double, b double, label " +
                               ("string" if isinstance(labels[0], str) else "int"))
    with pytest.raises(ValueError, match="null"):
        _am(spark, store).fit(df, epochs=1)
    assert _nothing_trained(store)


def test_unknown_objective_lists_the_valid_ones_before_training(spark, store):
    df = spark.createDataFrame([(float(i), 1.0, i % 2) for i in range(40)], ["a", "b", "label"])
    am = _am(spark, store)
    am.tuner_bind("random", objective="val_auc", max_trials=1, overwrite=True)
    with pytest.raises(ValueError, match="val_auc") as info:
        am.fit(df, epochs=1)
    assert "val_accuracy" in str(info.value) and "val_loss" in str(info.value)
    assert _nothing_trained(store)
