"""Upstream's user scripts, ported: the docs' quick start (= examples/dummy_model_selection.py),
the fork's ``IrisTest.py`` and the tune part of ``examples/rossmann_model_selection.py``.

Changes from upstream's text are commented ``# upstream: ...``. Forced ones: Keras 3
(``tf.keras`` -> ``keras``, ``Adam(lr=)`` -> ``learning_rate=``, ``Input(shape=692)`` ->
``(692,)``, ``tf.*`` math -> ``keras.ops``, ``model.save`` needs a ``.keras`` name) and Spark 3
(``OneHotEncoderEstimator`` -> ``OneHotEncoder``). Smaller sizes (models, epochs, trials)
and local data from packages (pyspark's sample_libsvm_data, scikit-learn's iris and
diabetes) are the test machine's.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_docs_quick_start(spark, libsvm_df, backend, tmp_path):
    import keras  # upstream: import tensorflow as tf

    from cerebro.keras import SparkEstimator
    from cerebro.storage import LocalStore
    from cerebro.tune import TPESearch, hp_choice, hp_quniform

    store = LocalStore(prefix_path=str(tmp_path / "experiments"))
    df = libsvm_df
    train_df, test_df = df.randomSplit([0.8, 0.2], seed=1)  # upstream: no seed

    def estimator_gen_fn(params):
        model = keras.models.Sequential()
        model.add(keras.layers.Input(shape=(692,), name='features'))  # upstream: shape=692
        model.add(keras.layers.Dense(100, input_dim=692))
        model.add(keras.layers.Dense(1, input_dim=100))
        model.add(keras.layers.Activation('sigmoid'))

        optimizer = keras.optimizers.Adam(learning_rate=params['lr'])  # upstream: lr=
        loss = 'binary_crossentropy'

        estimator = SparkEstimator(
            model=model,
            optimizer=optimizer,
            loss=loss,
            metrics=['acc'],
            batch_size=params['batch_size'])

        return estimator

    search_space = {
        'lr': hp_choice([0.01, 0.001, 0.0001]),
        'batch_size': hp_quniform(16, 256, 16)
    }
    seen = []

    def recording_gen_fn(params):  # not upstream: records what TPE handed out
        seen.append(params['batch_size'])
        return estimator_gen_fn(params)

    # upstream: num_models=30, num_epochs=10
    model_selection = TPESearch(backend=backend, store=store, estimator_gen_fn=recording_gen_fn,
                                search_space=search_space, num_models=3, num_epochs=2,
                                validation=0.25, evaluation_metric='loss',
                                feature_columns=['features'], label_columns=['label'])

    model = model_selection.fit(train_df)
    # (fit also builds the first configuration once more to check it against the data)
    assert len(seen) >= 3 and all(type(b) is int and b % 16 == 0 for b in seen), seen

    model_history = model.get_history()
    assert len(model_history['val_loss']) == 2

    output_df = model.set_output_columns(['label_predicted']).transform(test_df)
    output_df.select('label', 'label_predicted').show(n=10)
    preds = [r['label_predicted'] for r in output_df.collect()]
    assert len(preds) == test_df.count() and all(0.0 <= p <= 1.0 for p in preds)

    all_models = model.get_all_models()
    all_model_training_history = model.get_all_model_history()
    assert isinstance(all_models, list) and len(all_models) == 3
    assert set(all_model_training_history) == {m.getRunId() for m in all_models}

    keras_model = model.keras()
    pred = keras_model.predict([np.ones([1, 692], dtype=np.float32)])
    assert pred.shape == (1, 1)
    ckpt_path = str(tmp_path / "cerebro_ckpt.keras")  # upstream: any name; Keras 3: .keras
    keras_model.save(ckpt_path)
    reloaded = keras.models.load_model(ckpt_path)
    np.testing.assert_allclose(reloaded.predict(np.ones([1, 692], np.float32)), pred, rtol=1e-5)

    all_models_keras = [m.keras() for m in all_models]
    assert all(isinstance(k, keras.Model) for k in all_models_keras)


def _iris_df(spark):
    """The fork's Iris_clean.csv: four measurements and a numeric Species (0, 1, 2)."""
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    rows = [tuple(float(v) for v in x[i]) + (int(y[i]),) for i in range(len(y))]
    return spark.createDataFrame(rows, ['SepalLengthCm', 'SepalWidthCm', 'PetalLengthCm',
                                        'PetalWidthCm', 'Species'])


def test_fork_iris_script(spark, backend, tmp_path):
    import keras  # upstream: import tensorflow as tf

    from cerebro.keras import SparkEstimator
    from cerebro.storage import LocalStore
    from cerebro.tune import TPESearch, hp_choice, hp_quniform

    store = LocalStore(prefix_path=str(tmp_path / "experiments"))

    from pyspark.ml.feature import OneHotEncoder  # upstream (Spark 2): OneHotEncoderEstimator

    df = _iris_df(spark)  # upstream: spark.read.csv(".../Iris_clean.csv", header=True, ...)

    encoder = OneHotEncoder(dropLast=False)
    encoder.setInputCols(["Species"])
    encoder.setOutputCols(["Species_OHE"])

    encoder_model = encoder.fit(df)
    encoded = encoder_model.transform(df)

    feature_columns = ['SepalLengthCm', 'SepalWidthCm', 'PetalLengthCm', 'PetalWidthCm']
    label_columns = ['Species_OHE']

    train_df, test_df = encoded.randomSplit([0.8, 0.2], seed=3)  # upstream: no seed

    def estimator_gen_fn(params):
        inputs = [keras.Input(shape=(1,)) for col in feature_columns]
        # upstream: activation=tf.nn.relu / tf.nn.softmax
        embeddings = [keras.layers.Dense(16, activation=keras.activations.relu)(input)
                      for input in inputs]
        combined = keras.layers.Concatenate()(embeddings)
        output = keras.layers.Dense(3, activation=keras.activations.softmax)(combined)
        model = keras.Model(inputs, output)

        optimizer = keras.optimizers.Adam(learning_rate=params['lr'])  # upstream: lr=
        loss = 'categorical_crossentropy'

        estimator = SparkEstimator(
            model=model,
            optimizer=optimizer,
            loss=loss,
            metrics=['accuracy'],
            batch_size=params['batch_size'])

        return estimator

    search_space = {
        'lr': hp_choice([0.01, 0.001, 0.0001]),
        'batch_size': hp_quniform(16, 64, 16)
    }

    model_selection = TPESearch(
        backend=backend,
        store=store,
        estimator_gen_fn=estimator_gen_fn,
        search_space=search_space,
        num_models=1,
        num_epochs=3,  # upstream: 10
        validation=0.25,
        evaluation_metric='loss',
        feature_columns=feature_columns,
        label_columns=label_columns
    )

    model = model_selection.fit(train_df)

    model_history = model.get_history()
    assert set(model_history) >= {'train_loss', 'val_loss', 'train_accuracy', 'val_accuracy'}
    assert all(len(v) == 3 for v in model_history.values())

    output_df = model.set_output_columns(['label_predicted']).transform(test_df)
    output_df.select('Species', 'label_predicted').show(n=10)
    rows = output_df.select('Species', 'label_predicted').collect()
    probs = np.array([r['label_predicted'] for r in rows])
    assert probs.shape == (test_df.count(), 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)


def test_rossmann_model_selection_part_2(spark, backend, tmp_path):
    """examples/rossmann_model_selection.py's model selection and prediction, on scikit-learn's
    diabetes data (10 continuous columns; the target plays the log of Sales)."""
    import keras  # upstream: import tensorflow as tf; from tensorflow.keras.layers import ...
    from keras.layers import BatchNormalization, Concatenate, Dense, Dropout, Flatten, Input
    from keras.layers import Reshape
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
    from sklearn.datasets import load_diabetes

    from cerebro.keras import SparkEstimator
    from cerebro.storage import LocalStore
    from cerebro.tune import TPESearch, hp_choice, hp_loguniform, hp_quniform

    data = load_diabetes()
    continuous_cols = list(data.feature_names)
    all_cols = continuous_cols
    sales = np.log(data.target)
    rows = [tuple(float(v) for v in data.data[i]) + (float(sales[i]), i % 5 == 0, i)
            for i in range(len(sales))]
    df = spark.createDataFrame(rows, all_cols + ['Sales', 'Validation', 'Id'])
    train_df = df.where('Id % 10 != 9')
    test_df = df.where('Id % 10 = 9').drop('Sales')
    max_sales = float(np.max(data.target))

    store = LocalStore(str(tmp_path / "work_dir"))  # upstream: LocalStore(args.work_dir)

    def estimator_gen_fn(params):
        ops = keras.ops  # upstream: tf.square, tf.exp, tf.where, tf.reduce_sum, tf.sqrt...

        def exp_rmspe(y_true, y_pred):
            """Competition evaluation metric, expects logarithic inputs."""
            pct = ops.square((ops.exp(y_true) - ops.exp(y_pred)) / ops.exp(y_true))
            # Compute mean excluding stores with zero denominator.
            x = ops.sum(ops.where(y_true > 0.001, pct, ops.zeros_like(pct)))
            y = ops.sum(ops.where(y_true > 0.001, ops.ones_like(pct), ops.zeros_like(pct)))
            return ops.sqrt(x / y)

        def act_sigmoid_scaled(x):
            """Sigmoid scaled to logarithm of maximum sales scaled by 20%."""
            return ops.sigmoid(x) * np.log(max_sales) * 1.2  # upstream: tf.nn.sigmoid, tf.math.log

        CUSTOM_OBJECTS = {'exp_rmspe': exp_rmspe, 'act_sigmoid_scaled': act_sigmoid_scaled}

        inputs = {col: Input(shape=(1,), name=col) for col in all_cols}
        # upstream also embedded its categorical columns (Embedding(..., input_length=1));
        # the diabetes data has none
        continuous_bn = Concatenate()([Reshape((1, 1), name='reshape_' + col)(inputs[col])
                                       for col in continuous_cols])
        continuous_bn = BatchNormalization()(continuous_bn)
        x = Flatten()(continuous_bn)
        for _ in range(params['num_layers']):
            # upstream: Dense(1000, ...)
            x = Dense(32, activation='relu',
                      kernel_regularizer=keras.regularizers.l2(params['l2']))(x)
        x = Dense(16, activation='relu',  # upstream: Dense(500, ...)
                  kernel_regularizer=keras.regularizers.l2(params['l2']))(x)
        x = Dropout(0.5)(x)
        output = Dense(1, activation=act_sigmoid_scaled)(x)
        model = keras.Model([inputs[f] for f in all_cols], output)

        # upstream: Adam(lr=params['lr'], epsilon=1e-3)
        optimizer = keras.optimizers.Adam(learning_rate=params['lr'], epsilon=1e-3)

        estimator = SparkEstimator(
            model=model,
            optimizer=optimizer,
            loss='mae',
            metrics=[exp_rmspe],
            custom_objects=CUSTOM_OBJECTS,
            batch_size=params['batch_size'])

        return estimator

    search_space = {
        'lr': hp_loguniform(-5, -3),
        'l2': hp_loguniform(-6, -4),
        'num_layers': hp_choice([1, 2]),  # upstream: [3, 4, 5, 6]
        'batch_size': hp_quniform(16, 128, 16)
    }

    # upstream: num_models=args.num_models, num_epochs=args.epochs, parallelism=args.num_workers
    model_selection = TPESearch(backend=backend, store=store, estimator_gen_fn=estimator_gen_fn,
                                search_space=search_space, num_models=2, num_epochs=2,
                                validation='Validation', evaluation_metric='loss',
                                feature_columns=all_cols, label_columns=['Sales'], parallelism=2)

    model = model_selection.fit(train_df).set_output_columns(['Sales'])

    history = model.get_history()
    best_val_rmspe = min(history['val_exp_rmspe'])
    print('Best RMSPE: %f' % best_val_rmspe)
    assert np.isfinite(best_val_rmspe) and best_val_rmspe > 0

    # upstream: model.keras().save(args.local_checkpoint_file); Keras 3 wants a .keras name
    model.keras().save(str(tmp_path / "checkpoint.keras"))

    pred_df = model.transform(test_df)
    # Convert from log domain to real Sales numbers
    pred_df = pred_df.withColumn('Sales', F.exp(pred_df.Sales))
    submission_df = pred_df.select(pred_df.Id.cast(T.IntegerType()), pred_df.Sales).toPandas()
    submission_df = submission_df.sort_values(by=['Id'])
    assert len(submission_df) == test_df.count() == 44
    assert (submission_df['Sales'] > 0).all()
    assert (submission_df['Sales'] <= max_sales ** 1.2 * 1.0001).all(), "the scaled sigmoid"
