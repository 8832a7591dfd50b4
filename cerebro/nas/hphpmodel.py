"""``HyperHyperModel``: AutoKeras's graph API, searched on Spark by model hopping.

>>> am = HyperHyperModel(inputs=ak.ImageInput(), outputs=ak.ClassificationHead())
>>> am.resource_bind(backend=backend, store=store, feature_columns=["features"],
...                  label_columns=["label"], evaluation_metric="accuracy")
>>> am.tuner_bind("greedy", objective="val_accuracy", max_trials=20)
>>> result = am.fit(train_df, epochs=5, input_shape=(28, 28, 1))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from cerebro._checks import whole_number
from cerebro._logging import get_logger
from cerebro.nas import compat, schema, tuner_state
from cerebro.storage.layout import check_project_name
from cerebro.nas.builder import PretrainedWeightsError, pin_no_download
from cerebro.nas.oracles import make_oracle
from cerebro.nas.fitted import FittedSearch
from cerebro.nas.settings import (AUTO, Resources, TunerSettings, check_early_stopping,
                                  check_tuner_args)
from cerebro.wire import as_listeners

if TYPE_CHECKING:
    import keras

    from cerebro.backend.spark import SparkBackend
    from cerebro.nas.tuner import SparkTuner
    from cerebro.storage import Store
    from cerebro.tune.result import ModelSelectionResult

log = get_logger("nas")
_FROM_TUNER_BIND: Any = object()  # fit(early_stopping=...) not given: tuner_bind's


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

    def __init__(self, inputs: Any, outputs: Any, overwrite: bool = False, max_trials: int = 100,
                 seed: Optional[int] = None, project_name: str = "hphp_model",
                 directory: Optional[str] = None, **kwargs: Any) -> None:
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
        self.tuner: Optional[SparkTuner] = None  # once both binds ran
        self._fitted: Optional[FittedSearch] = None
        self._max_epochs: Optional[int] = None
        self.max_model_size: Optional[int] = None
        # what sys_setup prepared (fit_on_prepared_data reuses it)
        self._prepared_df: Optional[tuple[Any, Any]] = None

    # -- binding ----------------------------------------------------------------------------
    def resource_bind(self, backend: SparkBackend, store: Store, feature_columns: Any = "features",
                      label_columns: Any = "labels", evaluation_metric: str = "loss",
                      validation: Any = 0.2, verbose: int = 1, records: Any = None,
                      mlflow: Any = None, listeners: Any = (),
                      sample_weight_col: Optional[str] = None) -> None:
        """Binds the Spark backend, the store and the columns the graph reads.

        Args:
            backend: A ``cerebro.backend.SparkBackend``.
            store: A ``cerebro.storage.Store``.
            feature_columns: One column per input node; or, for a single
                ``StructuredDataInput``, several numeric columns stacked together
                (default ``"features"``, the fork's).
            label_columns: One column per head (default ``"labels"``, the fork's).
            evaluation_metric: Metric used to rank the trials in the result.
            validation: Fraction of rows held out, or a bool/int column marking them.
            verbose: 0 silent, 1 progress.
            records: Where the search is recorded: ``None`` (``<store>/cerebro.db``, or the
                ``CEREBRO_RECORDS`` environment variable), a SQLAlchemy URL or path, or
                ``False`` (off).
            mlflow: An MLflow tracking URI (or ``True``) to log the search to MLflow.
            listeners: More listeners of the search's events: ``cerebro.wire.Listener`` objects,
                or plain ``fn(kind, payload)`` callables (``cerebro.wire.CallableListener``).
            sample_weight_col: A numeric column of per-row weights (``SparkEstimator``'s
                name), given to Keras's ``fit`` and ``evaluate`` as ``sample_weight`` on the
                workers; checked at ``fit`` (never null, finite, >= 0) before training.
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
        compat.check_evaluation_metric(evaluation_metric, self.heads)
        if sample_weight_col is not None and (not isinstance(sample_weight_col, str)
                                              or sample_weight_col in feature_columns
                                              + label_columns):
            raise ValueError(f"sample_weight_col must name a column that is neither a feature "
                             f"nor a label, got {sample_weight_col!r}")
        self.resources = Resources(backend, store, feature_columns, label_columns,
                                   evaluation_metric=evaluation_metric, validation=validation,
                                   verbose=verbose, records=records, mlflow=mlflow,
                                   listeners=as_listeners(listeners),
                                   sample_weight_col=sample_weight_col)
        if self.tuner_settings is not None and self.tuner is None and self._tuner_ready():
            self._make_tuner(self._max_epochs)  # tuner_bind came first: its state goes here

    def tuner_bind(self, tuner: Any = "greedy", hyperparameters: Any = None, objective: Any = "val_loss",
                   max_trials: Optional[int] = None, overwrite: Optional[bool] = None,
                   parallelism: Optional[int] = None, project_name: Optional[str] = None,
                   directory: Optional[str] = None, max_model_size: Optional[int] = None,
                   early_stopping: Any = AUTO, strict_order: bool = False,
                   **tuner_kwargs: Any) -> None:
        """Chooses the search algorithm.

        Args:
            tuner: "greedy", "random", "bayesian", "hyperband", "grid" (the fork's
                "randomsearch", "gridsearch" are aliases), or a KerasTuner ``Oracle``.
            hyperparameters: A ``keras_tuner.HyperParameters``; its ``Fixed`` values are kept.
            objective: E.g. ``"val_accuracy"``; checked against the metrics the heads produce.
            max_trials: Trial budget (default: the constructor's).
            overwrite: Start afresh (``True``) or resume (``False``); default: the
                constructor's. An explicit value here wins over the constructor's.
            parallelism: Trials trained at once (default: twice the number of workers).
            project_name / directory: Override the constructor's (the fork took them here).
            max_model_size: Trials whose model has more parameters fail to build (skipped),
                as AutoKeras's ``max_model_size``.
            early_stopping: Ends hopeless trials at an epoch's end, freeing their slot for
                the next trial: ``"auto"`` (default: ``"median"``, except under Hyperband,
                whose rounds already do this), ``"median"`` (the median stopping rule:
                after each epoch from the first, a trial whose best objective is worse than
                the median of the running averages of at least 3 other trials at that
                epoch stops), ``"asha"`` (asynchronous successive halving), ``None`` (every
                trial trains all its epochs) or a ``cerebro.search.stopping.Stopper``.
                A stopped trial is ``STOPPED`` in the records and the result, with its
                reason; the oracle gets its scores (it ends ``COMPLETED`` there).
            strict_order: ``True``: every trial visits the partitions in a seeded order
                fixed in advance (a rerun gives the same models whatever the timing);
                ``False`` (default): work-conserving, a trial takes any partition it has not
                visited in the epoch, shortest remaining trial first while trials are still
                to start (their results reach the tuner sooner), then longest first (the
                order taken is logged, and replayed when the search resumes).
            **tuner_kwargs: Passed to the oracle, e.g. ``exploration=0.3`` for greedy,
                ``factor=3`` for hyperband.
        """
        tuner = check_tuner_args(tuner, hyperparameters, parallelism, max_trials,
                                    max_model_size, overwrite, early_stopping,
                                    strict_order)
        if project_name is not None:
            self.project_name = check_project_name(project_name)
        if directory is not None:
            self.directory = directory
        kwargs = {**self._default_tuner_kwargs, **tuner_kwargs}
        self._max_epochs = kwargs.pop("max_epochs", None)  # make_oracle takes it by name
        self.max_model_size = max_model_size
        self.tuner_settings = TunerSettings(tuner, hyperparameters, objective,
                                            max_trials or self.max_trials,
                                            self.overwrite if overwrite is None else overwrite,
                                            parallelism, kwargs, early_stopping,
                                            strict_order)
        self.tuner = None
        if self._tuner_ready() and (self.resources is not None or self.directory):
            self._make_tuner(self._max_epochs)

    def _tuner_ready(self) -> bool:
        """Whether the tuner can be made now (Hyperband needs its epochs: at fit if unset)."""
        cfg = self.tuner_settings
        assert cfg is not None  # tuner_bind ran
        return not (isinstance(cfg.tuner, str) and cfg.tuner == "hyperband"
                    and not self._max_epochs)

    @property
    def objective(self) -> Any:
        """The search's objective (the oracle's, once the tuner exists)."""
        if self.tuner is not None:
            return self.tuner.oracle.objective
        return self.tuner_settings.objective if self.tuner_settings else None

    def _make_tuner(self, max_epochs: Optional[int]) -> SparkTuner:
        from cerebro.nas.tuner import SparkTuner

        cfg, res = self.tuner_settings, self.resources
        assert cfg is not None  # tuner_bind ran
        hps = pin_no_download(cfg.hyperparameters) if cfg.hyperparameters else None
        oracle = make_oracle(cfg.tuner, cfg.objective, cfg.max_trials, hps, self.seed,
                             max_epochs, **cfg.kwargs)
        directory = self._project_dir()
        if not self.directory and not cfg.overwrite:
            assert res is not None  # no directory: the tuner lives in the store
            tuner_state.pull(res.store, self.project_name)  # a remote store's
        self.tuner = SparkTuner(oracle, self.graph, directory, self.project_name,
                                overwrite=cfg.overwrite)
        return self.tuner

    def _project_dir(self) -> str:
        """The KerasTuner project's parent directory: ``directory``, else the store's
        ``nas/`` (a remote store's: a local mirror synced with it, see ``tuner_state``)."""
        if self.directory:
            return self.directory
        if self.resources is None:
            raise ValueError("call resource_bind(...) first: the search's state goes in its store")
        return tuner_state.local_dir(self.resources.store)

    # -- search -----------------------------------------------------------------------------
    def fit(self, df: Any, epochs: Optional[int] = None, input_shape: Any = None,
            batch_size: int = 32, callbacks: Any = None, validation_df: Any = None,
            verbose: Optional[int] = None, early_stopping: Any = _FROM_TUNER_BIND,
            **kwargs: Any) -> ModelSelectionResult:
        """Searches for the best model; returns a ``cerebro.tune.ModelSelectionResult``.

        Args:
            df: Training DataFrame (Spark; a pandas one is converted by the active session).
            epochs: Epochs per trial (Hyperband: the maximum). Default 10.
            input_shape: Per-row shape: a tuple for one input, or a list/dict aligned with
                ``feature_columns``.
            batch_size: Batch size (a whole float such as ``32.0`` is taken as an int).
            callbacks: Epoch-level Keras callbacks (``EarlyStopping``, ``ReduceLROnPlateau``,
                ``LearningRateScheduler``, ``CSVLogger``, ``TerminateOnNaN``, your own
                ``on_epoch_end``), one copy per trial, run on the driver at each epoch's end
                (see ``cerebro.search.callbacks``). Per-batch callbacks are refused.
            validation_df: Explicit validation rows (instead of ``validation``).
            verbose: 0 silent, 1 progress; default: ``resource_bind``'s.
            early_stopping: Overrides ``tuner_bind(early_stopping=...)`` for this search
                (``"auto"``, ``"median"``, ``"asha"``, ``None`` or a ``Stopper``).
            **kwargs: The fork's and AutoKeras's ``fit`` keywords that have no meaning here
                (``validation_split``: use ``resource_bind(validation=...)``) are refused.
        """
        from cerebro.nas.search import run_search
        from cerebro.keras.callbacks import check_callbacks

        if kwargs:
            raise TypeError(f"fit() got unexpected keyword(s) {sorted(kwargs)}; the validation "
                            "rows are resource_bind(validation=...), and the rest of Keras's "
                            "fit arguments do not apply to a model-hopping search")
        if self.resources is None:
            raise ValueError("call resource_bind(backend, store, feature_columns, label_columns) "
                             "before fit()")
        batch_size = whole_number(batch_size, "batch_size")
        epochs = whole_number(10 if epochs is None else epochs, "epochs")
        verbose = self.resources.verbose if verbose is None else whole_number(verbose, "verbose", 0)
        callbacks = check_callbacks(callbacks)
        if early_stopping is not _FROM_TUNER_BIND:
            check_early_stopping(early_stopping)
        df = compat.as_spark_df(df, "df")
        if validation_df is not None:
            validation_df = compat.as_spark_df(validation_df, "validation_df")
        compat.check_evaluation_metric(self.resources.evaluation_metric, self.heads)
        if self.tuner_settings is None:
            self.tuner_bind("greedy", objective="val_loss")
        if self.tuner is None:
            self._make_tuner(self._max_epochs or epochs)
        if early_stopping is _FROM_TUNER_BIND:
            assert self.tuner_settings is not None  # bound just above
            early_stopping = self.tuner_settings.early_stopping
        result, fitted = run_search(self, df, epochs, input_shape, batch_size, validation_df,
                                    callbacks=tuple(callbacks), verbose=verbose,
                                    early_stopping=early_stopping)
        self._fitted = fitted
        return result

    def sys_setup(self, df: Any, input_shape: Any = None, batch_size: int = 32) -> Any:
        """Prepares the data in the store ahead of the search (the fork's ``sys_setup``).

        Returns ``(train_rows, val_rows, metadata, avg_row_size)`` as the fork did;
        ``metadata`` is the prepared ``DatasetInfo``. Workers are not started here: each
        search starts and stops its own. ``fit``/``fit_on_prepared_data`` on the same data
        reuse what this wrote (the dataset is content-addressed in the store).
        """
        from cerebro.nas import dataprep

        if self.resources is None:
            raise ValueError("call resource_bind(...) before sys_setup()")
        df = compat.as_spark_df(df, "df")
        data = dataprep.prepare(self, df, 10, input_shape, whole_number(batch_size, "batch_size"))
        self._prepared_df = (df, input_shape)
        return compat.sys_setup_tuple(self.resources.store, data.info)

    def fit_on_prepared_data(self, df: Any = None, batch_size: int = 32,
                             epochs: Optional[int] = None, callbacks: Any = None,
                             verbose: Optional[int] = None, input_shape: Any = None,
                             prep_x: Any = None, prep_y: Any = None,
                             early_stopping: Any = _FROM_TUNER_BIND, **kwargs: Any) -> Any:
        """The fork's search on data ``sys_setup`` prepared: the same as ``fit``, whose
        preparation then finds the data already in the store and writes nothing.

        Args:
            df: The DataFrame given to ``sys_setup`` (default: that one).
            prep_x / prep_y: The fork's numpy samples to shape the graph; not needed (the
                graph is configured from the prepared data), accepted and ignored.
            Others: as ``fit``.
        """
        if df is None:
            if self._prepared_df is None:
                raise ValueError("fit_on_prepared_data() needs the DataFrame: pass df, or call "
                                 "sys_setup(df) first")
            df, shape = self._prepared_df
            input_shape = shape if input_shape is None else input_shape
        if prep_x is not None or prep_y is not None:
            log.info("fit_on_prepared_data: prep_x/prep_y are not needed here (the graph is "
                     "configured from the prepared data); ignored")
        return self.fit(df, epochs=epochs, input_shape=input_shape, batch_size=batch_size,
                        callbacks=callbacks, verbose=verbose, early_stopping=early_stopping,
                        **kwargs)

    # -- after the search -------------------------------------------------------------------
    def _require_fit(self, what: str = "this") -> FittedSearch:
        if self._fitted is None:
            raise ValueError(f"{what} needs the best model of a finished search: call "
                             "fit(df, ...) first")
        return self._fitted

    def export_model(self) -> keras.Model:
        """The best trial's plain ``keras.Model`` (loads without ``custom_objects``)."""
        return self._require_fit("export_model()").result.get_best_model().keras()

    def predict(self, x: Any, batch_size: int = 256, verbose: int = 0, **kwargs: Any) -> Any:
        """Predictions of the best model.

        Given a Spark DataFrame (or a pandas one, converted by the active session), returns
        it with prediction columns added, computed distributed: ``<label>__pred``
        (probabilities or values) and, for classification labels that were encoded,
        ``<label>__class`` (the original label). Given numpy array(s), returns numpy: class
        labels for classification heads, values otherwise. ``verbose`` (the fork's and
        Keras's argument) is accepted; prediction shows no progress bar.
        """
        from cerebro.nas import predict as predict_mod

        fitted = self._require_fit("predict()")
        batch_size = whole_number(batch_size, "batch_size")
        if kwargs:
            raise TypeError(f"predict() got unexpected keyword(s) {sorted(kwargs)}")
        if _is_pandas(x):
            x = compat.as_spark_df(x, "x")
        whole_number(verbose, "verbose", 0)
        return predict_mod.predict(fitted, x, batch_size)

    def evaluate(self, x: Any, y: Any = None, batch_size: int = 256, verbose: int = 0,
                 **kwargs: Any) -> dict[str, float]:
        """The best model's metrics.

        ``evaluate(df)``: a Spark (or pandas) DataFrame with the label columns, computed
        distributed, as the trials' validation computed it (rows weighed by the search's
        ``sample_weight_col`` when ``df`` has it). ``evaluate(x, y)``: numpy arrays (lists
        of them for several inputs/outputs; labels as in the training DataFrame), computed
        here with Keras (``verbose`` is Keras's).
        """
        import numpy as np

        from cerebro.nas import predict as predict_mod

        fitted = self._require_fit("evaluate()")
        batch_size = whole_number(batch_size, "batch_size")
        if kwargs:
            raise TypeError(f"evaluate() got unexpected keyword(s) {sorted(kwargs)}")
        if y is not None:
            if _is_pandas(x) or type(x).__name__ == "DataFrame":
                raise TypeError("evaluate(df) takes the labels from the DataFrame's label "
                                "columns; pass y only with numpy x")
            return compat.evaluate_numpy(fitted, x, y, batch_size,
                                         whole_number(verbose, "verbose", 0))
        if isinstance(x, (np.ndarray, list, tuple)):
            raise TypeError("evaluate(x) on numpy needs the labels: evaluate(x, y)")
        return predict_mod.evaluate(fitted, compat.as_spark_df(x, "x"), batch_size)


def _is_pandas(x: Any) -> bool:
    import pandas as pd

    return isinstance(x, pd.DataFrame)


# The seed's API reference calls it ``cerebro.nas.hphpmodel.HyperModel``.
HyperModel = HyperHyperModel

__all__ = ["HyperHyperModel", "HyperModel", "PretrainedWeightsError"]
