"""Cerebro's model-selection API: ``GridSearch``, ``RandomSearch`` and ``TPESearch``."""

from __future__ import annotations

import uuid
from typing import Callable, Optional, Sequence

from cerebro._logging import get_logger
from cerebro.data.columns import check_input_shape, inspect_dataframe
from cerebro.data.prepare import load_dataset_info, prepare_data
from cerebro.keras.estimator import SparkEstimator
from cerebro.search.runner import quiet_console
from cerebro.search.stopping import resolve_stopper
from cerebro.storage.layout import check_project_name
from cerebro.tune.result import ModelSelectionResult
from cerebro.wire import ModelIO, as_listeners
from cerebro.tune.searchers import GridSearcher, RandomSearcher, Searcher, TPESearcher
from cerebro.tune.space import check_space

log = get_logger("tune")


def model_io(est: SparkEstimator, info, feature_columns, label_columns) -> ModelIO:
    """Checks an estimator's inputs/outputs against the prepared columns; returns its IO."""
    feats = list(est.feature_columns or feature_columns)
    labels = list(est.label_columns or label_columns)
    in_shapes = list(est.input_shapes or est.model_input_shapes())
    if len(in_shapes) != len(feats):
        raise ValueError(
            f"the model has {len(in_shapes)} input(s) but {len(feats)} feature column(s) "
            f"{feats} were given; give one feature column per model input")
    shapes = tuple(check_input_shape(info[c], s) for c, s in zip(feats, in_shapes))
    out_shapes = est.model_output_shapes()
    if len(out_shapes) != len(labels):
        raise ValueError(
            f"the model has {len(out_shapes)} output(s) but {len(labels)} label column(s) "
            f"{labels} were given")
    label_shapes = tuple((info[c].length,) if info[c].length > 1 else (1,) for c in labels)
    weight = est.sample_weight_col
    if weight is not None and weight not in info:
        raise ValueError(
            f"sample_weight_col {weight!r} is not in the prepared data (columns "
            f"{sorted(info)}): a search prepares the weight column of its first "
            "configuration's estimator, so every estimator must name that one (or none)")
    return ModelIO(tuple(feats), tuple(labels), shapes, label_shapes, weight_column=weight)


class ModelSelection:
    """Trains models from ``estimator_gen_fn(params)`` by model hopping and keeps the best.

    Args:
        backend: A ``cerebro.backend.Backend`` (e.g. ``SparkBackend``).
        store: A ``cerebro.storage.Store``.
        estimator_gen_fn: ``params -> SparkEstimator``.
        search_space: ``{name: hp_*(...)}``.
        num_epochs: Epochs per model.
        evaluation_metric: Ranks models by ``val_<evaluation_metric>`` at their last epoch;
            accuracy-like metrics are maximised, losses minimised.
        validation: Fraction, or a bool/int column marking validation rows.
        label_columns / feature_columns: Column names.
        verbose: 0 quiet, 1 progress logs.
        parallelism: Models trained at once (default: every model for grid/random search,
            ``2 * num_workers`` for TPE).
        seed: Seeds the split, the sampler and the visit order.
        project_name: Names the search's runs in the store and its records experiment
            (default: the search's class and a fresh id).
        records: Where the search is recorded (default: ``<store>/cerebro.db``; ``False``
            turns records off; a SQLAlchemy URL puts them elsewhere).
        mlflow: MLflow tracking URI (or ``True``) to log the search to MLflow.
        listeners: More listeners of the search's events: ``cerebro.wire.Listener`` objects,
            or plain ``fn(kind, payload)`` callables (``cerebro.wire.CallableListener``).
        early_stopping: ``None`` (default: every configuration trains all ``num_epochs``,
            as upstream Cerebro's model selection promises), ``"median"`` (the median
            stopping rule: after each epoch, a model whose best ``val_<metric>`` is worse
            than the median of the running averages of at least 3 other models at that
            epoch stops), ``"asha"`` (asynchronous successive halving) or a
            ``cerebro.search.stopping.Stopper``. A stopped model is ``STOPPED`` in the
            result (``statuses``, ``stop_reasons``, ``to_pandas()``) and the records.
        strict_order: ``True``: every model visits the partitions in a seeded order fixed in
            advance, so a rerun gives the same models whatever the timing. ``False``
            (default): work-conserving, a model takes any partition it has not visited in
            the epoch (faster with models of different sizes; the order taken is logged).
    """

    def __init__(self, backend, store, estimator_gen_fn: Callable[[dict], SparkEstimator],
                 search_space: dict, num_epochs: int, evaluation_metric: str = "loss",
                 validation=0.25, label_columns: Sequence[str] = ("label",),
                 feature_columns: Sequence[str] = ("features",), verbose: int = 1,
                 parallelism: Optional[int] = None, seed: int = 0,
                 project_name: Optional[str] = None, records=None, mlflow=None,
                 listeners: Sequence = (), early_stopping=None,
                 strict_order: bool = False):
        if not callable(estimator_gen_fn):
            raise TypeError("estimator_gen_fn must be callable: params -> SparkEstimator")
        if isinstance(num_epochs, bool) or not isinstance(num_epochs, int) or num_epochs < 1:
            raise ValueError(f"num_epochs must be a positive int, got {num_epochs!r}")
        if parallelism is not None and parallelism < 1:
            raise ValueError(f"parallelism must be >= 1, got {parallelism}")
        if not isinstance(strict_order, bool):
            raise TypeError(f"strict_order must be True or False, got {strict_order!r}")
        self.backend, self.store = backend, store
        self.estimator_gen_fn = estimator_gen_fn
        self.search_space = check_space(search_space)
        self.num_epochs = num_epochs
        self.evaluation_metric = evaluation_metric
        self.validation = validation
        self.label_columns = list(label_columns)
        self.feature_columns = list(feature_columns)
        self.verbose = verbose
        self.parallelism = parallelism
        self.seed, self.strict_order = seed, strict_order
        self.run_id = uuid.uuid4().hex[:6]
        self.project_name = check_project_name(project_name or f"{type(self).__name__}-{self.run_id}")
        self.records, self.mlflow = records, mlflow
        self.listeners = as_listeners(listeners)
        self.stopper = resolve_stopper(early_stopping)

    def _searcher(self) -> Searcher:
        raise NotImplementedError

    def _default_parallelism(self) -> int:
        return 1 << 30

    def fit(self, df) -> ModelSelectionResult:
        """Validates and prepares ``df``, then runs the search on it."""
        quiet_console(self.backend, self.verbose)
        searcher = self._searcher()
        first = searcher.ask()
        if first is None:
            raise ValueError("the search space yields no configuration")
        est = self._estimator(first[1])
        weight = est.sample_weight_col
        columns = inspect_dataframe(df, self.feature_columns, self.label_columns,
                                    weight_column=weight).columns
        model_io(est, columns, self.feature_columns, self.label_columns)
        info = prepare_data(self.store, df, self.feature_columns, self.label_columns,
                            self.backend.num_workers, validation=self.validation, seed=self.seed,
                            weight_column=weight)
        return self._run(info, searcher, first)

    def fit_on_prepared_data(self) -> ModelSelectionResult:
        """Runs the search on data an earlier ``backend.prepare_data`` wrote to the store."""
        info = load_dataset_info(self.store)
        searcher = self._searcher()
        first = searcher.ask()
        if first is None:
            raise ValueError("the search space yields no configuration")
        model_io(self._estimator(first[1]), info.columns, self.feature_columns,
                 self.label_columns)  # e.g. a sample_weight_col the data was prepared without
        return self._run(info, searcher, first)

    def _estimator(self, params: dict) -> SparkEstimator:
        est = self.estimator_gen_fn(params)
        if not isinstance(est, SparkEstimator):
            raise TypeError(
                f"estimator_gen_fn must return a SparkEstimator, got {type(est).__name__}")
        return est

    def _run(self, info, searcher: Searcher, first) -> ModelSelectionResult:
        from cerebro.search import RunnerSettings, SearchRunner
        from cerebro.tune.source import SearcherSource

        source = SearcherSource(self, searcher, info, first)
        labels = list(self.label_columns)
        settings = RunnerSettings(
            project=self.project_name, parallelism=self.parallelism or self._default_parallelism(),
            output_names=[f"{c}__output" for c in labels],
            evaluation_metric=self.evaluation_metric, seed=self.seed, verbose=self.verbose,
            kind="tune", records=getattr(self, "records", None), mlflow=getattr(self, "mlflow", None),
            listeners=tuple(self.listeners), stopper=getattr(self, "stopper", None),
            strict_order=self.strict_order,
            config={"num_epochs": self.num_epochs, "seed": self.seed,
                    "space": {k: repr(v) for k, v in self.search_space.items()}})
        weight = [info.weight_column] if info.weight_column else []
        columns = tuple(dict.fromkeys(self.feature_columns + self.label_columns + weight))
        return SearchRunner(self.backend, self.store, source, settings, info, columns).run()


class GridSearch(ModelSelection):
    """Every combination of the space's ``hp_choice`` values."""

    def _searcher(self) -> Searcher:
        return GridSearcher(self.search_space)


class RandomSearch(ModelSelection):
    """``num_models`` random configurations (seeded)."""

    def __init__(self, backend, store, estimator_gen_fn, search_space, num_models: int,
                 num_epochs: int, **kwargs):
        if isinstance(num_models, bool) or not isinstance(num_models, int) or num_models < 1:
            raise ValueError(f"num_models must be a positive int, got {num_models!r}")
        super().__init__(backend, store, estimator_gen_fn, search_space, num_epochs, **kwargs)
        self.num_models = num_models

    def _searcher(self) -> Searcher:
        return RandomSearcher(self.search_space, self.num_models, self.seed)


class TPESearch(RandomSearch):
    """hyperopt's Tree-structured Parzen Estimator; a new model starts whenever one ends."""

    def _searcher(self) -> Searcher:
        return TPESearcher(self.search_space, self.num_models, self.seed)

    def _default_parallelism(self) -> int:
        return 2 * self.backend.num_workers
