"""``SparkEstimator``'s upstream keywords and accessors, checked at the API boundary (no Spark)."""

from __future__ import annotations

import logging

import numpy as np
import pytest


def _model(n_in=692):
    import keras

    model = keras.Sequential()
    # upstream: tf.keras.layers.Input(shape=692, ...); Keras 3 needs a tuple
    model.add(keras.layers.Input(shape=(n_in,), name="features"))
    model.add(keras.layers.Dense(4))
    model.add(keras.layers.Dense(1, activation="sigmoid"))
    return model


def _est(**kw):
    import keras

    from cerebro.keras import SparkEstimator

    # upstream: tf.keras.optimizers.Adam(lr=...); Keras 3 renamed it learning_rate
    kw.setdefault("optimizer", keras.optimizers.Adam(learning_rate=0.01))
    kw.setdefault("loss", "binary_crossentropy")
    return SparkEstimator(model=_model(), metrics=["acc"], **kw)


@pytest.mark.parametrize("value,want", [(64, 64), (64.0, 64), (np.float64(48.0), 48),
                                        (np.int64(16), 16), (None, 32)])
def test_whole_batch_sizes_are_accepted(value, want):
    est = _est(batch_size=value)
    assert est.batch_size == want and type(est.batch_size) is int
    assert est.getBatchSize() == want


@pytest.mark.parametrize("value,err,match", [
    (48.5, ValueError, "batch_size must be a whole number, got 48.5"),
    (float("nan"), ValueError, "whole number"),
    (0, ValueError, "batch_size must be >= 1"),
    (True, TypeError, "whole number"),
    ("64", TypeError, "whole number"),
])
def test_other_batch_sizes_are_refused(value, err, match):
    with pytest.raises(err, match=match):
        _est(batch_size=value)
    with pytest.raises(err, match=match):
        _est().setBatchSize(value)


def test_upstream_keywords_and_accessors():
    import keras

    opt = keras.optimizers.SGD(0.1)
    est = _est(optimizer=opt, loss_weights=[1.0], custom_objects={"x": abs})
    assert est.getModel() is est.model and est.getOptimizer() is opt
    assert est.getLoss() == "binary_crossentropy" and est.getMetrics() == ["acc"]
    assert est.getLossWeights() == [1.0] and est.getCustomObjects() == {"x": abs}
    assert est.getCallbacks() == [] and est.getTransformationFn() is None
    assert est.setBatchSize(128.0) is est and est.batch_size == 128
    assert est.setFeatureCols(("a", "b")).getFeatureCols() == ["a", "b"]
    assert est.setLabelCols(["y"]).getLabelCols() == ["y"]
    assert est.get_model_shapes() == ([[-1, 692]], [[-1, 1]])
    compiled = est.compiled_model()
    assert compiled.optimizer is opt


def test_optimizer_and_loss_default_to_a_compiled_model():
    import keras

    from cerebro.keras import SparkEstimator

    model = _model()
    model.compile(keras.optimizers.Adam(0.01), "mse")
    est = SparkEstimator(model=model, batch_size=8)
    assert est.optimizer is model.optimizer and est.loss == "mse"
    assert est.to_bytes()[:2] == b"PK", "a .keras (zip) file"
    with pytest.raises(ValueError, match="optimizer is required"):
        SparkEstimator(model=_model(), loss="mse")
    with pytest.raises(ValueError, match="loss is required"):
        SparkEstimator(model=_model(), optimizer="adam")
    with pytest.raises(TypeError, match="model must be a keras.Model"):
        SparkEstimator(model=None, optimizer="adam", loss="mse")


def test_epoch_level_callbacks_are_kept_and_per_batch_ones_refused_as_for_nas():
    import keras

    from cerebro.search.callbacks import CallbackError, check_callbacks

    kept = [keras.callbacks.EarlyStopping(), keras.callbacks.TerminateOnNaN()]
    assert _est(callbacks=kept).getCallbacks() == kept

    class PerBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    for bad in (keras.callbacks.ModelCheckpoint("m.keras"), PerBatch()):
        with pytest.raises(CallbackError) as nas:
            check_callbacks([bad])
        with pytest.raises(CallbackError) as est:
            _est(callbacks=[bad])
        assert str(est.value) == str(nas.value)  # the same message as HyperHyperModel.fit
        with pytest.raises(CallbackError, match=type(bad).__name__):
            _est().setCallbacks([bad])


def test_transformation_fn_is_checked_and_pickled():
    import cloudpickle

    def per_batch(x, y):
        return x * 2.0, y

    est = _est(transformation_fn=per_batch)
    fn = cloudpickle.loads(est.transformation_fn_bytes())
    x, y = fn(np.ones((3, 692), np.float32), np.zeros((3, 1), np.float32))
    assert x.shape == (3, 692) and float(x[0, 0]) == 2.0 and y.shape == (3, 1)

    def upstream_style(dataset):  # upstream: fn(tf.data.Dataset) -> Dataset
        return dataset.shuffle(1000)

    with pytest.raises(TypeError, match=r"must take two arguments, fn\(x, y\)"):
        _est(transformation_fn=upstream_style)
    with pytest.raises(TypeError, match="must be callable"):
        _est(transformation_fn="shuffle")
    import threading

    lock = threading.Lock()
    with pytest.raises(TypeError, match="cannot be pickled"):
        _est(transformation_fn=lambda x, y: (lock, y))
    assert _est().setTransformationFn(per_batch).transformation_fn_bytes() is not None


def test_fork_only_keywords(caplog):
    assert _est(sample_weight_col="w").getSampleWeightCol() == "w"
    assert _est().setSampleWeightCol("w2").sample_weight_col == "w2"
    with pytest.raises(TypeError, match="sample_weight_col must be a column name"):
        _est(sample_weight_col=["w"])
    with caplog.at_level(logging.INFO, logger="cerebro"):
        _est(shuffle_buffer_size=1000)
    assert "shuffle_buffer_size=1000) ignored" in caplog.text


def _module_level_fn(x, y):
    return x + 1, y


def test_a_function_of_the_users_module_travels_by_value(tmp_path):
    """Workers need not have the module that defines the function (here: this test file)."""
    import subprocess
    import sys

    data = _est(transformation_fn=_module_level_fn).transformation_fn_bytes()
    code = ("import sys, cloudpickle; fn = cloudpickle.loads(sys.stdin.buffer.read()); "
            "print(fn(1, 2))")
    out = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True,
                         cwd=tmp_path, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr.decode()[-500:]
    assert out.stdout.decode().strip() == "(2, 2)"
