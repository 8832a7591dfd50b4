"""The seed's other two graphs: heads only (the search picks the image block), and a
ConvBlock merged with a ResNetBlock(version="v2") trained from scratch."""

from __future__ import annotations

import pytest

from .helpers import bind, fresh_names, trial_values

pytestmark = pytest.mark.slow


def test_head_only_graph_searches_the_image_block(spark, store, mnist_df):
    import autokeras as ak
    import keras
    from keras_tuner import HyperParameters

    from cerebro.nas import HyperHyperModel

    fresh_names()
    am = HyperHyperModel(inputs=ak.ImageInput(), outputs=ak.ClassificationHead(),
                         overwrite=True, max_trials=1000, seed=2)
    bind(am, spark, store, ["features"], ["label"])
    hp = HyperParameters()
    hp.Fixed("image_block_1/block_type", "vanilla")  # names as search_space_summary() shows
    hp.Fixed("image_block_1/augment", False)
    hp.Fixed("image_block_1/conv_block_1/num_blocks", 1)
    hp.Fixed("image_block_1/conv_block_1/num_layers", 1)
    hp.Fixed("image_block_1/conv_block_1/max_pooling", True)
    hp.Fixed("image_block_1/conv_block_1/filters_0_0", 16)
    hp.Fixed("optimizer", "adam")
    am.tuner_bind("greedy", hyperparameters=hp, objective="val_accuracy", max_trials=2,
                  overwrite=True)
    result = am.fit(mnist_df, epochs=1)  # input_shape inferred: 784 = 28 x 28 x 1

    values = trial_values(am)
    assert len(values) == 2
    for v in values:  # every trial's build registered the same names, so the Fixed ones hold
        assert v["image_block_1/block_type"] == "vanilla"
        assert v["image_block_1/conv_block_1/filters_0_0"] == 16
        assert not any("conv_block_2" in name or "res_net" in name for name in v)
    model = am.export_model()
    assert model.inputs[0].shape[1:] == (28, 28, 1)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 1 and convs[0].filters == 16
    for history in result.get_all_model_history().values():
        assert len(history["val_accuracy"]) == 1
    assert result.get_best_model().history["val_accuracy"][0] > 0.3  # 10 classes: chance 0.1


def seed_graph(seed: int):
    """The seed's own graph: ConvBlock and ResNetBlock v2 merged, as its walk-through writes it."""
    import autokeras as ak

    from cerebro.nas import HyperHyperModel

    fresh_names()
    input_node = ak.ImageInput()
    output_node = ak.Normalization()(input_node)
    output_node1 = ak.ConvBlock()(output_node)
    output_node2 = ak.ResNetBlock(version="v2")(output_node)
    output_node = ak.Merge()([output_node1, output_node2])
    output_node = ak.ClassificationHead()(output_node)
    return HyperHyperModel(inputs=input_node, outputs=output_node, overwrite=True,
                           max_trials=1000, seed=seed)


def test_conv_and_resnet_v2_merged(spark, store, mnist_df):
    from keras_tuner import HyperParameters

    am = seed_graph(seed=3)
    bind(am, spark, store, ["features"], ["label"])
    hp = HyperParameters()
    hp.Fixed("res_net_block_1/version", "resnet50_v2")
    hp.Fixed("conv_block_1/num_blocks", 1)
    hp.Fixed("conv_block_1/num_layers", 1)
    am.tuner_bind("random", hyperparameters=hp, objective="val_loss", max_trials=1,
                  overwrite=True)
    result = am.fit(mnist_df.limit(200), epochs=1, input_shape=(28, 28, 1))

    (values,) = trial_values(am)
    assert values["res_net_block_1/pretrained"] is False  # random weights: nothing downloads
    assert values["res_net_block_1/version"] == "resnet50_v2"
    assert result.statuses == {"trial_0": "DONE"}
    history = result.get_best_model().history
    assert len(history["val_loss"]) == 1 and history["val_loss"][0] == history["val_loss"][0]
    model = am.export_model()
    assert model.count_params() > 20_000_000  # ResNet50V2 is in there
    assert any(type(layer).__name__ == "Concatenate" for layer in model.layers)


def test_seed_graph_unpinned_never_crashes_the_search(spark, store, mnist_df):
    """The seed's own graph with nothing fixed (its space includes ResNet152V2 and large
    resizes), 2 trials on 2 workers in local mode: each trial is DONE, or FAILED naming
    memory; the search itself always completes."""
    am = seed_graph(seed=5)
    bind(am, spark, store, ["features"], ["label"])
    am.tuner_bind("greedy", objective="val_accuracy", max_trials=2, overwrite=True)
    result = am.fit(mnist_df.limit(400), epochs=1, input_shape=(28, 28, 1))
    assert len(result.statuses) == 2
    for model_id, status in result.statuses.items():
        assert status in ("DONE", "FAILED"), (model_id, status)
        if status == "FAILED":
            assert "memory" in result.errors[model_id], result.errors[model_id]
    from cerebro.storage.layout import RunLayout

    logs = [RunLayout(store, am.project_name).read_log(m) for m in result.statuses]
    peaks = [log["peak_rss_bytes"] for log in logs if log]
    assert all(0 < p < 20 * 2**30 for p in peaks), peaks  # measured, and under the host
