"""``HyperHyperModel.resource_bind(sample_weight_col=...)``: the NAS front end prepares the
weight column and its trials train and validate with it."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow

FEATURES = ["a", "b", "c", "d"]


def test_a_nas_trial_trains_and_validates_with_the_weights(spark, store):
    import autokeras as ak
    import keras
    import keras_tuner as kt
    from sklearn.datasets import load_iris

    from cerebro.backend import SparkBackend
    from cerebro.data.prepare import load_dataset_info
    from cerebro.nas.hphpmodel import HyperHyperModel

    x, y = load_iris(return_X_y=True)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    is_val = np.random.default_rng(0).random(len(y)) < 0.3
    # Every validation row weighs 0: the weighted val loss is exactly 0 (sum of w * loss
    # over the rows), while training rows weigh 1 or 2.
    rows = [tuple(float(v) for v in x[i]) + (int(y[i]), bool(is_val[i]),
                                             0 if is_val[i] else 1 + i % 2)
            for i in range(len(y))]
    df = spark.createDataFrame(rows, FEATURES + ["Species", "is_val", "w"])
    keras.backend.clear_session()
    inp = ak.StructuredDataInput()
    am = HyperHyperModel(inputs=inp, outputs=ak.ClassificationHead()(ak.DenseBlock()(inp)),
                         overwrite=True, seed=1, project_name="weighted")
    with pytest.raises(ValueError, match="sample_weight_col must name a column that is"):
        am.resource_bind(backend=SparkBackend(spark.sparkContext, num_workers=2), store=store,
                         feature_columns=FEATURES, label_columns=["Species"],
                         sample_weight_col="Species")
    am.resource_bind(backend=SparkBackend(spark.sparkContext, num_workers=2), store=store,
                     feature_columns=FEATURES, label_columns=["Species"], validation="is_val",
                     evaluation_metric="accuracy", verbose=0, sample_weight_col="w")
    hp = kt.HyperParameters()
    hp.Fixed("dense_block_1/num_layers", 1)
    hp.Fixed("dense_block_1/units_0", 8)
    am.tuner_bind("random", hyperparameters=hp, objective="val_loss", max_trials=1)
    result = am.fit(df, epochs=1, batch_size=16)
    (history,) = result.get_all_model_history().values()
    assert history["val_loss"] == [0.0]
    assert history["train_loss"][0] > 0 and 0 <= history["val_accuracy"][0] <= 1
    assert load_dataset_info(store).weight_column == "w"

    # evaluate(df) weighs rows as the trials' validation did: 0 on every validation row.
    val = df.filter("is_val")
    weighted = am.evaluate(val)
    assert weighted["loss"] == 0.0
    assert weighted["accuracy"] == pytest.approx(history["val_accuracy"][0], abs=1e-6)
    unweighted = am.evaluate(val.drop("w"))  # no weight column: plain means, and a warning
    assert unweighted["loss"] > 0
    assert unweighted["accuracy"] == pytest.approx(weighted["accuracy"], abs=1e-6)
    with pytest.raises(ValueError, match="sample weight column 'w' has negative weights"):
        am.evaluate(val.withColumn("w", val["w"] - 1))
