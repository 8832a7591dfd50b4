"""Upstream Cerebro 1.1.1's ``tests/`` (test_grid_search, test_prepare_data, test_tpe), ported.

Every change from upstream's text is commented ``# upstream: ...``; the forced ones are
Keras 3 (``tf.keras`` -> ``keras``, ``Adam(lr=)`` -> ``learning_rate=``, ``Input(shape=692)``
-> ``(692,)``, ``transformation_fn`` on numpy batches instead of a ``tf.data.Dataset``).
The others are the test machine's: 2 workers (2 cores), a temporary store instead of
``/tmp``. Upstream's tests asserted only that they ran; the asserts here check the result.

``test_grid_search`` and ``test_random_search`` use a ``transformation_fn`` as upstream's
do: they need the hopper to pass ``transform_key`` and the worker to apply it (see
``docs/migrating.md``).
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def estimator_gen_fn(params, with_transformation=True):
    import keras  # upstream: import tensorflow as tf; tf.keras...

    from cerebro.keras import SparkEstimator

    model = keras.models.Sequential()
    model.add(keras.layers.Input(shape=(692,), name='features'))  # upstream: shape=692
    model.add(keras.layers.Dense(100, input_dim=692))
    model.add(keras.layers.Dense(1, input_dim=100))
    model.add(keras.layers.Activation('sigmoid'))

    optimizer = keras.optimizers.Adam(learning_rate=params['lr'])  # upstream: lr=
    loss = 'binary_crossentropy'

    # upstream: def transformation_fn(dataset): return dataset.shuffle(1000)
    # (a tf.data.Dataset of rows, before batching). Keras 3 has no tf.data here: the function
    # gets each batch as numpy arrays, fn(x, y) -> (x, y); the worker already reshuffles its
    # shard every visit, so this only permutes the rows within the batch.
    def transformation_fn(x, y):
        order = np.random.default_rng(len(x)).permutation(len(x))
        return x[order], y[order]

    keras_estimator = SparkEstimator(
        model=model,
        optimizer=optimizer,
        loss=loss,
        metrics=['acc'],
        batch_size=10,
        transformation_fn=transformation_fn if with_transformation else None)

    return keras_estimator


def plain_estimator_gen_fn(params):
    """test_prepare_data.py's and test_tpe.py's estimator: the same without transformation."""
    return estimator_gen_fn(params, with_transformation=False)


def _check(model, df, n_models, epochs=1):
    """What upstream's tests printed, asserted: every model trained, predictions for all rows."""
    output_df = model.transform(df)
    rows = output_df.select('label', 'label__output').collect()
    assert len(rows) == df.count() == 100
    preds = np.array([r['label__output'] for r in rows])
    assert preds.shape == (100,) and np.all((preds >= 0) & (preds <= 1)), "sigmoid, one value"
    models = model.get_all_models()
    assert len(models) == n_models
    for m in models:
        assert set(m.getHistory()) == {'train_loss', 'train_acc', 'val_loss', 'val_acc'}
        assert all(len(v) == epochs and np.all(np.isfinite(v)) for v in m.getHistory().values())
    best = model.get_best_model()
    assert best.getHistory()['val_loss'][-1] == min(m.getHistory()['val_loss'][-1] for m in models)
    return models


def test_grid_search(spark, libsvm_df, backend, tmp_path):
    from cerebro.storage import LocalStore
    from cerebro.storage.layout import RunLayout
    from cerebro.tune import GridSearch, hp_choice

    df = libsvm_df
    store = LocalStore(str(tmp_path))  # upstream: LocalStore('/tmp')

    search_space = {'lr': hp_choice([0.01, 0.001, 0.0001])}

    grid_search = GridSearch(backend, store, estimator_gen_fn, search_space, 1,
                             validation=0.25, evaluation_metric='loss',
                             feature_columns=['features'], label_columns=['label'])

    model = grid_search.fit(df)
    models = _check(model, df, 3)
    assert sorted(m.params['lr'] for m in models) == [0.0001, 0.001, 0.01]
    layout = RunLayout(store, grid_search.project_name)  # each search's runs in its own folder
    for m in models:
        assert store.exists(layout.transformation_fn_key(m.getRunId()))


def test_random_search(spark, libsvm_df, backend, tmp_path):
    from cerebro.storage import LocalStore
    from cerebro.tune import RandomSearch, hp_choice

    df = libsvm_df
    store = LocalStore(str(tmp_path))  # upstream: LocalStore('/tmp')

    search_space = {'lr': hp_choice([0.01, 0.001, 0.0001])}

    random_search = RandomSearch(backend, store, estimator_gen_fn, search_space, 3, 1,
                                 validation=0.25,
                                 evaluation_metric='loss',
                                 feature_columns=['features'], label_columns=['label'])
    model = random_search.fit(df)
    _check(model, df, 3)


def test_prepare_data(spark, libsvm_df, backend, tmp_path):
    """Upstream's test_prepare_data.py (also in test_grid_search.py): prepare, then search."""
    from cerebro.storage import LocalStore
    from cerebro.tune import RandomSearch, hp_choice

    df = libsvm_df
    # upstream: LocalStore('/tmp', train_path='/tmp/train_data', val_path='/tmp/val_data')
    store = LocalStore(str(tmp_path), train_path=str(tmp_path / 'train_data'),
                       val_path=str(tmp_path / 'val_data'))
    backend.prepare_data(store, df, validation=0.25)
    assert (tmp_path / 'train_data').is_dir() and (tmp_path / 'val_data').is_dir()

    search_space = {'lr': hp_choice([0.01, 0.001, 0.0001])}

    random_search = RandomSearch(backend, store, plain_estimator_gen_fn, search_space, 3, 1,
                                 validation=0.25,
                                 evaluation_metric='loss',
                                 feature_columns=['features'], label_columns=['label'])
    model = random_search.fit_on_prepared_data()
    _check(model, df, 3)


def test_tpe(spark, libsvm_df, backend, tmp_path):
    from cerebro.storage import LocalStore
    from cerebro.tune import TPESearch, hp_choice, hp_quniform, hp_uniform

    df = libsvm_df
    store = LocalStore(str(tmp_path))  # upstream: LocalStore('/tmp')

    search_space = {
        'lr': hp_choice([0.01, 0.001, 0.0001]),
        'dummy1': hp_uniform(0, 100),
        'dummy2': hp_quniform(0, 100, 1),
        'dummy3': hp_quniform(0, 100, 1),
    }

    hyperopt = TPESearch(backend=backend, store=store, estimator_gen_fn=plain_estimator_gen_fn,
                         search_space=search_space,
                         num_models=3, num_epochs=1, validation=0.25, evaluation_metric='loss',
                         feature_columns=['features'], label_columns=['label'], verbose=2)

    model = hyperopt.fit(df)
    models = _check(model, df, 3)
    for m in models:
        assert type(m.params['dummy2']) is int and 0 <= m.params['dummy2'] <= 100
        assert 0 <= m.params['dummy1'] <= 100
