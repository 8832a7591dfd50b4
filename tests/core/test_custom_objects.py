"""A model with a custom layer trains on the workers via ``SparkEstimator(custom_objects=...)``."""

from __future__ import annotations

import numpy as np

from frames import make_vector_df


def test_custom_layer_reaches_the_workers(spark, store):
    import keras
    from sklearn.datasets import load_digits

    from cerebro.backend import SparkBackend
    from cerebro.keras import SparkEstimator
    from cerebro.tune import GridSearch, hp_choice

    class Scale(keras.layers.Layer):  # defined here: no worker can import it by name
        def __init__(self, factor=1.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    def gen(params):
        model = keras.Sequential([keras.Input((64,)), Scale(params["factor"]),
                                  keras.layers.Dense(10, activation="softmax")])
        return SparkEstimator(model, keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                              ["accuracy"], batch_size=32, custom_objects={"Scale": Scale})

    x, y = load_digits(return_X_y=True)
    df = make_vector_df(spark, (x / 16.0)[:600], y[:600], val_fraction=0.25)
    result = GridSearch(SparkBackend(spark.sparkContext, num_workers=2), store, gen,
                        {"factor": hp_choice([0.5])}, num_epochs=1, evaluation_metric="accuracy",
                        validation="is_val", verbose=0).fit(df)
    assert result.statuses and all(s == "DONE" for s in result.statuses.values()), result.errors
    best = result.get_best_model().keras()
    assert any(type(layer).__name__ == "Scale" for layer in best.layers)
    assert np.isfinite(result.get_best_model_history()["val_loss"][0])
