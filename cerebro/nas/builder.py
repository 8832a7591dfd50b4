"""Trial hyperparameters -> a compiled, plain-Keras model, ready to ship to workers.

AutoKeras builds the model (``Graph.build(hp)``); ``Normalization`` layers are adapted on
the bounded sample; AutoKeras's two helper layers (``CastToFloat32``, ``ExpandLastDim``)
are swapped for built-in Keras layers, so workers need no AutoKeras to load a model and
an exported model loads with ``keras.models.load_model`` and no ``custom_objects``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

PRETRAINED_SUFFIX = "pretrained"


class PretrainedWeightsError(ValueError):
    """A block asked for pretrained weights, which would be downloaded at run time."""


def check_no_download(hp) -> None:
    for name, value in hp.values.items():
        if name.split("/")[-1] == PRETRAINED_SUFFIX and value:
            raise PretrainedWeightsError(
                f"hyperparameter {name}=True would download ImageNet weights; this system never "
                "downloads at run time. Leave `pretrained` unset or False.")


def pin_no_download(hps):
    """Returns a copy of ``hps`` in which every ``*/pretrained`` choice is Fixed to False."""
    import keras_tuner as kt

    cfg = hps.get_config()
    for i, entry in enumerate(cfg["space"]):
        name = entry["config"]["name"]
        if name.split("/")[-1] == PRETRAINED_SUFFIX and entry["class_name"] != "Fixed":
            cfg["space"][i] = {"class_name": "Fixed", "config": {
                "name": name, "value": False, "conditions": entry["config"].get("conditions", [])}}
            if name in cfg["values"]:
                cfg["values"][name] = False
    return kt.HyperParameters.from_config(cfg)


def _plain_layer(layer):
    import keras

    cls = type(layer).__name__
    if cls == "CastToFloat32":
        return keras.layers.Identity(name=layer.name)
    if cls == "ExpandLastDim":
        shape = tuple(int(d) for d in layer.input.shape[1:])
        return keras.layers.Reshape(shape + (1,), name=layer.name)
    return layer.__class__.from_config(layer.get_config())


def to_plain_keras(model, metrics):
    """Clones ``model`` with AutoKeras helper layers replaced; copies weights; compiles."""
    import keras

    clone = keras.models.clone_model(model, clone_function=_plain_layer)
    clone.set_weights(model.get_weights())
    clone.compile(optimizer=model.optimizer, loss=model.loss, metrics=metrics)
    return clone


def build_trial_model(graph, hp, sample_inputs: Sequence[np.ndarray]):
    """Builds, adapts and compiles the model of one trial.

    Args:
        graph: The AutoKeras ``Graph`` (already configured from the data).
        hp: The trial's ``HyperParameters``.
        sample_inputs: Bounded sample of each input, shaped like the model's inputs.
    """
    from autokeras.engine.tuner import AutoTuner

    check_no_download(hp)
    model = graph.build(hp)
    check_no_download(hp)
    AutoTuner.adapt(model, list(sample_inputs))
    return to_plain_keras(model, graph._get_metrics())
