"""One Keras build lock for every driver-side build: a NAS build (which clears Keras's
session) and a tune build running at once in two threads of one driver both succeed, and the
tune build runs under the same lock as the NAS build."""

from __future__ import annotations

import threading
import types

import numpy as np


def _configured_graph():
    """A small AutoKeras graph (one input of 4 numbers, a regression head), configured as
    ``nas/dataprep.py`` configures it from the data."""
    import autokeras as ak

    from cerebro.nas.schema import build_graph

    inp, head = ak.Input(), ak.RegressionHead()
    graph, _, _ = build_graph([inp], [head])
    x = np.random.default_rng(0).random((32, 4)).astype("float32")
    y = np.random.default_rng(1).random((32, 1)).astype("float32")
    for node, sample in ((inp, x), (head, y)):
        analyser = node.get_analyser()
        analyser.update(sample)
        analyser.finalize()
        node.config_from_analyser(analyser)
    graph.inputs[0].shape, graph.outputs[0].in_blocks[0].shape = (4,), (1,)
    inp.num_samples, inp.batch_size = 32, 8
    graph.set_fit_args(0, epochs=1)
    return graph, x


def _lock_held_elsewhere() -> bool:
    """Whether another thread holds ``KERAS_BUILD_LOCK`` (asked from a third thread)."""
    from cerebro.keras.state import KERAS_BUILD_LOCK

    got: list[bool] = []

    def probe() -> None:
        ok = KERAS_BUILD_LOCK.acquire(blocking=False)
        if ok:
            KERAS_BUILD_LOCK.release()
        got.append(ok)

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return not got[0]


def test_a_nas_build_and_a_tune_build_at_once(tmp_path):
    import keras
    import keras_tuner as kt

    from cerebro.engine.runs import Objective
    from cerebro.nas.builder import build_trial_model
    from cerebro.search import RunnerSettings, SearchRunner
    from cerebro.search.source import BuiltModel, TrialRequest
    from cerebro.storage import LocalStore
    from cerebro.wire import ModelIO

    graph, x = _configured_graph()
    rounds = 4
    start = threading.Barrier(2)
    errors: list[BaseException] = []
    under_lock: list[bool] = []
    nas_models: list[object] = []

    def tune_model(seed: int) -> BuiltModel:
        # What a tune trial's estimator_gen_fn does: build and compile a plain Keras model.
        under_lock.append(_lock_held_elsewhere())
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        return BuiltModel(b"", 8, ModelIO(("x",), ("y",), ((4,),), ((1,),)), summary=str(len(model.weights)))

    # Only the runner's build step is used: no backend, no trial source beyond its objective.
    source = types.SimpleNamespace(objective=Objective("loss"))
    runner = SearchRunner(None, LocalStore(str(tmp_path)), source,  # type: ignore[arg-type]
                          RunnerSettings(project="p", parallelism=1, output_names=["y"]),
                          None, ())

    def nas() -> None:
        try:
            start.wait()
            for _ in range(rounds):
                nas_models.append(build_trial_model(graph, kt.HyperParameters(), [x]))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def tune() -> None:
        try:
            start.wait()
            for i in range(rounds):
                built = runner._build(TrialRequest(f"t{i}", {}, 1, tune_model, seed_key=str(i)))
                assert built.summary == "4"
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=nas), threading.Thread(target=tune)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(nas_models) == rounds and under_lock == [True] * rounds
    assert all(m.count_params() > 0 for m in nas_models)
