"""Trial hyperparameters -> a compiled, plain-Keras model, ready to ship to workers.

AutoKeras builds the model (``Graph.build(hp)``); ``Normalization`` layers are adapted on
the bounded sample; AutoKeras's two helper layers (``CastToFloat32``, ``ExpandLastDim``)
are swapped for built-in Keras layers, so workers need no AutoKeras to load a model and
an exported model loads with ``keras.models.load_model`` and no ``custom_objects``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from cerebro.keras.state import KERAS_BUILD_LOCK

PRETRAINED_SUFFIX = "pretrained"


class PretrainedWeightsError(ValueError):
    """A block asked for pretrained weights, which would be downloaded at run time."""


def check_no_download(hp: Any) -> None:
    for name, value in hp.values.items():
        if name.split("/")[-1] == PRETRAINED_SUFFIX and value:
            raise PretrainedWeightsError(
                f"hyperparameter {name}=True would download ImageNet weights; this system never "
                "downloads at run time. Leave `pretrained` unset or False.")


def fixed_values(hps: Any) -> dict[str, Any]:
    """The ``Fixed`` values of ``hps`` (a user's ``HyperParameters``), by name."""
    if hps is None:
        return {}
    return {e["config"]["name"]: e["config"]["value"]
            for e in hps.get_config()["space"] if e["class_name"] == "Fixed"}


def pin_no_download(hps: Any, fixed: Any = None) -> Any:
    """Returns a copy of ``hps`` in which every ``*/pretrained`` choice is Fixed to False,
    and every choice named in ``fixed`` (the user's Fixed values) is Fixed to that value.

    KerasTuner tells hyperparameters apart by name *and* conditions, so a user's
    unconditional ``hp.Fixed("image_block_1/conv_block_1/num_blocks", 1)`` does not stop
    the ImageBlock from registering its own ``num_blocks`` choice under the ``block_type``
    condition, whose sampled value would then win. Pinning that choice (conditions kept)
    keeps the user's Fixed value in every trial.
    """
    import keras_tuner as kt

    fixed = fixed or {}
    cfg = hps.get_config()
    for i, entry in enumerate(cfg["space"]):
        name = entry["config"]["name"]
        if entry["class_name"] == "Fixed":
            continue
        if name.split("/")[-1] == PRETRAINED_SUFFIX:
            value = False
        elif name in fixed:
            value = fixed[name]
        else:
            continue
        cfg["space"][i] = {"class_name": "Fixed", "config": {
            "name": name, "value": value, "conditions": entry["config"].get("conditions", [])}}
        if name in cfg["values"]:
            cfg["values"][name] = value
    return kt.HyperParameters.from_config(cfg)


def _plain_layer(layer: Any) -> Any:
    import keras

    cls = type(layer).__name__
    if cls == "CastToFloat32":
        return keras.layers.Identity(name=layer.name)
    if cls == "ExpandLastDim":
        shape = tuple(int(d) for d in layer.input.shape[1:])
        return keras.layers.Reshape(shape + (1,), name=layer.name)
    return layer.__class__.from_config(layer.get_config())


def to_plain_keras(model: Any, metrics: Any) -> Any:
    """Clones ``model`` with AutoKeras helper layers replaced; copies weights; compiles."""
    import keras

    clone = keras.models.clone_model(model, clone_function=_plain_layer)
    clone.set_weights(model.get_weights())
    clone.compile(optimizer=model.optimizer, loss=model.loss, metrics=metrics)
    return clone


def build_trial_model(graph: Any, hp: Any, sample_inputs: Sequence[np.ndarray]) -> Any:
    """Builds, adapts and compiles the model of one trial.

    Args:
        graph: The AutoKeras ``Graph`` (already configured from the data).
        hp: The trial's ``HyperParameters``.
        sample_inputs: Bounded sample of each input, shaped like the model's inputs.
    """
    import keras

    from cerebro._upstream import adapt_preprocessing, graph_metrics

    check_no_download(hp)
    # Blocks that a build creates (a head's SpatialReduction, an ImageBlock's ConvBlock, ...)
    # are named by a per-process counter: reset it, as KerasTuner does before every build, so
    # every trial registers the same hyperparameter names (``.../spatial_reduction_1/...``).
    # No gc.collect() (free_memory): in a driver holding Spark, torch and AutoKeras it took
    # 0.35 s per build, while a worker waited for the new trial.
    with KERAS_BUILD_LOCK:
        keras.backend.clear_session(free_memory=False)
        model = graph.build(hp)
        check_no_download(hp)
        adapt_preprocessing(model, sample_inputs)
        return to_plain_keras(model, graph_metrics(graph))
