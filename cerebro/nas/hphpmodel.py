"""``HyperHyperModel``: AutoKeras's graph API, searched on Spark by model hopping.

>>> am = HyperHyperModel(inputs=ak.ImageInput(), outputs=ak.ClassificationHead())
>>> am.resource_bind(backend=backend, store=store, feature_columns=["features"],
...                  label_columns=["label"], evaluation_metric="accuracy")
>>> am.tuner_bind("greedy", objective="val_accuracy", max_trials=20)
>>> result = am.fit(train_df, epochs=5, input_shape=(28, 28, 1))
"""

from __future__ import annotations

import os
from typing import Any, Optional

from cerebro._logging import get_logger
from cerebro.nas import schema
from cerebro.storage.layout import check_project_name
from cerebro.nas.builder import PretrainedWeightsError, pin_no_download
from cerebro.nas.oracles import TUNERS, make_oracle
from cerebro.nas.settings import Resources, TunerSettings

log = get_logger("nas")


class HyperHyperModel:
    """An AutoKeras hypermodel whose trials train concurrently on Spark workers.

    Args:
        inputs: AutoKeras input node(s): ``ImageInput``, ``StructuredDataInput``, ...
        outputs: Output node(s) of a block graph, or just head(s) (the search then picks the
            blocks), e.g. ``ak.ClassificationHead()``.
        overwrite: Start the project afresh instead of resuming it.
        max_trials: Default trial budget (``tuner_bind(max_trials=...)`` overrides it).
        seed: Seeds the oracle, the data split and the visit order.
        project_name: Name of the search project: its runs' directory in the store and its
            records experiment.
        directory: Where the KerasTuner project directory goes; default: inside the store.
    """

    def __init__(self, inputs, outputs, overwrite: bool = False, max_trials: int = 100,
                 seed: Optional[int] = None, project_name: str = "hphp_model",
                 directory: Optional[str] = None, **kwargs):
        if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
            raise ValueError(f"max_trials must be a positive int, got {max_trials!r}")
        self.graph, self.inputs, self.heads = schema.build_graph(inputs, outputs)
        self.overwrite = overwrite
        self.max_trials = max_trials
        self.seed = seed
        self.project_name = check_project_name(project_name)
        self.directory = directory
        self._default_tuner_kwargs = kwargs
        self.resources: Optional[Resources] = None
        self.tuner_settings: Optional[TunerSettings] = None
        self.tuner = None
        self._fitted: Optional[dict] = None

    # -- binding ----------------------------------------------------------------------------
    def resource_bind(self, backend, store, feature_columns, label_columns,
                      evaluation_metric: str = "loss", validation=0.2, verbose: int = 1,
                      records=None, mlflow=None, listeners=()) -> None:
        """Binds the Spark backend, the store and the columns the graph reads.

        Args:
            backend: A ``cerebro.backend.SparkBackend``.
            store: A ``cerebro.storage.Store``.
            feature_columns: One column per input node; or, for a single
                ``StructuredDataInput``, several numeric columns stacked together.
            label_columns: One column per head.
            evaluation_metric: Metric used to rank the trials in the result.
            validation: Fraction of rows held out, or a bool/int column marking them.
            verbose: 0 silent, 1 progress.
            records: Where the search is recorded: ``None`` (``<store>/cerebro.db``, or the
                ``CEREBRO_RECORDS`` environment variable), a SQLAlchemy URL or path, or
                ``False`` (off).
            mlflow: An MLflow tracking URI (or ``True``) to log the search to MLflow.
            listeners: More ``(kind, payload)`` callbacks of the search's events.
        """
        from cerebro.backend.base import Backend
        from cerebro.storage import Store

        if not isinstance(backend, Backend):
            raise TypeError(f"backend must be a cerebro Backend, got {type(backend).__name__}")
        if not isinstance(store, Store):
            raise TypeError(f"store must be a cerebro Store, got {type(store).__name__}")
        feature_columns = schema.as_column_list(feature_columns, "feature_columns")
        label_columns = schema.as_column_list(label_columns, "label_columns")
        schema.check_io_arity(self.inputs, self.heads, feature_columns, label_columns)
        self.resources = Resources(backend, store, feature_columns, label_columns,
                                   evaluation_metric=evaluation_metric, validation=validation,
                                   verbose=verbose, records=records, mlflow=mlflow,
                                   listeners=tuple(listeners))

    def tuner_bind(self, tuner: Any = "greedy", hyperparameters=None, objective="val_loss",
                   max_trials: Optional[int] = None, overwrite: bool = False,
                   parallelism: Optional[int] = None, **tuner_kwargs) -> None:
        """Chooses the search algorithm.

        Args:
            tuner: "greedy", "random", "bayesian", "hyperband", "grid", or a KerasTuner
                ``Oracle`` instance.
            hyperparameters: A ``keras_tuner.HyperParameters``; its ``Fixed`` values are kept.
            objective: E.g. ``"val_accuracy"``; checked against the metrics the heads produce.
            max_trials: Trial budget (default: the constructor's).
            overwrite: Start afresh (also if the constructor said not to).
            parallelism: Trials trained at once (default: twice the number of workers).
            **tuner_kwargs: Passed to the oracle, e.g. ``exploration=0.3`` for greedy,
                ``factor=3`` for hyperband.
        """
        import keras_tuner as kt

        if isinstance(tuner, str) and tuner.lower() not in TUNERS:
            raise ValueError(f"unknown tuner {tuner!r}; choose one of {list(TUNERS)} "
                             "or pass a keras_tuner.Oracle")
        if hyperparameters is not None and not isinstance(hyperparameters, kt.HyperParameters):
            raise TypeError("hyperparameters must be a keras_tuner.HyperParameters")
        if parallelism is not None and (not isinstance(parallelism, int) or parallelism < 1):
            raise ValueError(f"parallelism must be a positive int, got {parallelism!r}")
        if max_trials is not None and (not isinstance(max_trials, int) or max_trials < 1):
            raise ValueError(f"max_trials must be a positive int, got {max_trials!r}")
        kwargs = {**self._default_tuner_kwargs, **tuner_kwargs}
        max_epochs = kwargs.pop("max_epochs", None)  # make_oracle takes it by name
        self.tuner_settings = TunerSettings(tuner, hyperparameters, objective,
                                            max_trials or self.max_trials,
                                            overwrite or self.overwrite, parallelism, kwargs)
        if not (isinstance(tuner, str) and tuner.lower() == "hyperband" and not max_epochs):
            self._make_tuner(max_epochs)

    def _make_tuner(self, max_epochs: Optional[int]):
        from cerebro.nas.tuner import SparkTuner

        cfg = self.tuner_settings
        hps = pin_no_download(cfg.hyperparameters) if cfg.hyperparameters else None
        oracle = make_oracle(cfg.tuner, cfg.objective, cfg.max_trials, hps, self.seed,
                             max_epochs, **cfg.kwargs)
        self.tuner = SparkTuner(oracle, self.graph, self._project_dir(), self.project_name,
                                overwrite=cfg.overwrite)
        return self.tuner

    def _project_dir(self) -> str:
        if self.directory:
            return self.directory
        store = self.resources.store if self.resources else None
        if store is not None and type(store).__name__ == "LocalStore":
            return store.fs_path("nas")
        return os.path.join(os.getcwd(), "cerebro_nas")

    # -- search -----------------------------------------------------------------------------
    def fit(self, df, epochs: Optional[int] = None, input_shape=None, batch_size: int = 32,
            callbacks=None, validation_df=None):
        """Searches for the best model; returns a ``cerebro.tune.ModelSelectionResult``.

        Args:
            df: Training DataFrame.
            epochs: Epochs per trial (Hyperband: the maximum). Default 10.
            input_shape: Per-row shape: a tuple for one input, or a list/dict aligned with
                ``feature_columns``.
            batch_size: Batch size.
            callbacks: Not supported inside model-hopping sub-epochs; must be empty.
            validation_df: Explicit validation rows (instead of ``validation``).
        """
        from cerebro.nas.search import run_search

        if self.resources is None:
            raise ValueError("call resource_bind(backend, store, feature_columns, label_columns) "
                             "before fit()")
        if callbacks:
            raise ValueError("Keras callbacks cannot run inside model-hopping sub-epochs; "
                             "use tuner_bind(tuner='hyperband') or the result's history")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        epochs = 10 if epochs is None else epochs
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be a positive int, got {epochs!r}")
        if self.tuner_settings is None:
            self.tuner_bind("greedy", objective="val_loss")
        if self.tuner is None:
            self._make_tuner(epochs)
        result, fitted = run_search(self, df, epochs, input_shape, batch_size, validation_df)
        self._fitted = fitted
        return result

    # -- after the search -------------------------------------------------------------------
    def _require_fit(self) -> dict:
        if self._fitted is None:
            raise ValueError("fit() has not run yet")
        return self._fitted

    def export_model(self):
        """The best trial's plain ``keras.Model`` (loads without ``custom_objects``)."""
        return self._require_fit()["result"].get_best_model().keras()

    def predict(self, x, batch_size: int = 256):
        """Predictions of the best model.

        Given a Spark DataFrame, returns it with prediction columns added, computed
        distributed: ``<label>__pred`` (probabilities or values) and, for classification
        labels that were encoded, ``<label>__class`` (the original label). Given numpy
        array(s), returns numpy: class labels for classification heads, values otherwise.
        """
        from cerebro.nas import predict as predict_mod

        return predict_mod.predict(self._require_fit(), x, batch_size)

    def evaluate(self, df, batch_size: int = 256) -> dict[str, float]:
        """The best model's metrics on ``df`` (computed distributed, weighted by rows)."""
        from cerebro.nas import predict as predict_mod

        return predict_mod.evaluate(self._require_fit(), df, batch_size)


# The seed's API reference calls it ``cerebro.nas.hphpmodel.HyperModel``.
HyperModel = HyperHyperModel

__all__ = ["HyperHyperModel", "HyperModel", "PretrainedWeightsError"]
