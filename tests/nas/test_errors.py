"""Mistakes caught up front, with messages that say what to do: nothing trains first."""

from __future__ import annotations

import pytest

from .helpers import bind, fresh_names


def _image_am(spark, store, **tuner):
    import autokeras as ak

    from cerebro.nas import HyperHyperModel

    fresh_names()
    am = HyperHyperModel(inputs=ak.ImageInput(), outputs=ak.ClassificationHead(), overwrite=True)
    bind(am, spark, store, ["features"], ["label"])
    am.tuner_bind("random", objective="val_loss", max_trials=1, overwrite=True, **tuner)
    return am


def _nothing_trained(store) -> bool:
    return store.listdir(store.runs_key()) == []


def test_unknown_tuner_name_lists_the_valid_ones():
    import autokeras as ak

    from cerebro.nas import HyperHyperModel

    am = HyperHyperModel(inputs=ak.ImageInput(), outputs=ak.ClassificationHead())
    with pytest.raises(ValueError, match="genetic") as info:
        am.tuner_bind("genetic", objective="val_loss")
    for name in ("greedy", "random", "bayesian", "hyperband", "grid"):
        assert name in str(info.value)


def test_input_shape_that_does_not_fit_the_features(spark, store, mnist_df):
    with pytest.raises(ValueError, match=r"input_shape|784"):
        _image_am(spark, store).fit(mnist_df, epochs=1, input_shape=(10, 10, 1))
    assert _nothing_trained(store)


def test_scalar_feature_column_for_an_image_input(spark, store):
    df = spark.createDataFrame([(float(i), i % 2) for i in range(20)], ["features", "label"])
    with pytest.raises(TypeError, match="ImageInput"):
        _image_am(spark, store).fit(df, epochs=1)
    assert _nothing_trained(store)


def test_pretrained_block_is_refused_because_it_would_download():
    import autokeras as ak

    from cerebro.nas import HyperHyperModel, PretrainedWeightsError

    fresh_names()
    inp = ak.ImageInput()
    out = ak.ClassificationHead()(ak.ResNetBlock(pretrained=True)(inp))
    with pytest.raises(PretrainedWeightsError, match="download"):
        HyperHyperModel(inputs=inp, outputs=out)


def test_pretrained_hyperparameter_is_refused_before_training(spark, store, mnist_df):
    import autokeras as ak
    from keras_tuner import HyperParameters

    from cerebro.nas import HyperHyperModel, PretrainedWeightsError

    fresh_names()
    inp = ak.ImageInput()
    out = ak.ClassificationHead()(ak.ResNetBlock(version="v2")(inp))
    am = HyperHyperModel(inputs=inp, outputs=out, overwrite=True)
    bind(am, spark, store, ["features"], ["label"])
    hp = HyperParameters()
    hp.Fixed("res_net_block_1/pretrained", True)
    am.tuner_bind("random", hyperparameters=hp, objective="val_loss", max_trials=1,
                  overwrite=True)
    with pytest.raises(PretrainedWeightsError, match="download"):
        am.fit(mnist_df.limit(50), epochs=1)
    assert _nothing_trained(store)


def test_a_bad_early_stopping_value_is_refused_before_training(spark, store, mnist_df):
    import autokeras as ak

    from cerebro.nas import HyperHyperModel

    with pytest.raises(ValueError, match=r"early_stopping='mean' is not a choice.*'median'"):
        HyperHyperModel(inputs=ak.ImageInput(), outputs=ak.ClassificationHead()).tuner_bind(
            "greedy", early_stopping="mean")
    with pytest.raises(ValueError, match=r"early_stopping=5 is not a choice.*'auto'"):
        _image_am(spark, store).fit(mnist_df, epochs=1, input_shape=(28, 28, 1),
                                    early_stopping=5)
    assert _nothing_trained(store)


@pytest.mark.parametrize("call", ["predict", "evaluate", "export_model"])
def test_using_the_best_model_before_fit_says_to_call_fit_first(call):
    import autokeras as ak
    import numpy as np

    from cerebro.nas import HyperHyperModel

    fresh_names()
    am = HyperHyperModel(inputs=ak.ImageInput(), outputs=ak.ClassificationHead())
    args = () if call == "export_model" else (np.zeros((2, 28, 28, 1)),)
    with pytest.raises(ValueError, match=rf"^{call}\(\) needs the best model of a finished "
                                         r"search: call fit\(df, \.\.\.\) first$"):
        getattr(am, call)(*args)
