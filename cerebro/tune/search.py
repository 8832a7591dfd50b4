"""Cerebro's model-selection API: ``GridSearch``, ``RandomSearch`` and ``TPESearch``."""

from __future__ import annotations

import time
import uuid
from typing import Callable, Optional, Sequence

from cerebro._logging import get_logger
from cerebro.data.columns import check_input_shape, inspect_columns
from cerebro.data.prepare import load_dataset_info, prepare_data
from cerebro.engine.hopper import FAILED, ModelHopper, visit_seed
from cerebro.wire import ModelIO
from cerebro.keras.estimator import SparkEstimator, SparkModel
from cerebro.progress import ProgressReporter
from cerebro.records import record_search
from cerebro.tune.result import ModelSelectionResult, is_maximized, ranking_key
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
    return ModelIO(tuple(feats), tuple(labels), shapes, label_shapes)


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
    """

    def __init__(self, backend, store, estimator_gen_fn: Callable[[dict], SparkEstimator],
                 search_space: dict, num_epochs: int, evaluation_metric: str = "loss",
                 validation=0.25, label_columns: Sequence[str] = ("label",),
                 feature_columns: Sequence[str] = ("features",), verbose: int = 1,
                 parallelism: Optional[int] = None, seed: int = 0):
        if not callable(estimator_gen_fn):
            raise TypeError("estimator_gen_fn must be callable: params -> SparkEstimator")
        if isinstance(num_epochs, bool) or not isinstance(num_epochs, int) or num_epochs < 1:
            raise ValueError(f"num_epochs must be a positive int, got {num_epochs!r}")
        if parallelism is not None and parallelism < 1:
            raise ValueError(f"parallelism must be >= 1, got {parallelism}")
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
        self.seed = seed
        self.run_id = uuid.uuid4().hex[:6]

    def _searcher(self) -> Searcher:
        raise NotImplementedError

    def _default_parallelism(self) -> int:
        return 1 << 30

    def fit(self, df) -> ModelSelectionResult:
        """Validates and prepares ``df``, then runs the search on it."""
        _, columns = inspect_columns(df, self.feature_columns, self.label_columns)
        searcher = self._searcher()
        first = searcher.ask()
        if first is None:
            raise ValueError("the search space yields no configuration")
        model_io(self._estimator(first[1]), columns, self.feature_columns, self.label_columns)
        info = prepare_data(self.store, df, self.feature_columns, self.label_columns,
                            self.backend.num_workers, validation=self.validation, seed=self.seed)
        return self._run(info, searcher, first)

    def fit_on_prepared_data(self) -> ModelSelectionResult:
        """Runs the search on data an earlier ``backend.prepare_data`` wrote to the store."""
        info = load_dataset_info(self.store)
        searcher = self._searcher()
        return self._run(info, searcher, searcher.ask())

    def _estimator(self, params: dict) -> SparkEstimator:
        est = self.estimator_gen_fn(params)
        if not isinstance(est, SparkEstimator):
            raise TypeError(
                f"estimator_gen_fn must return a SparkEstimator, got {type(est).__name__}")
        return est

    def _run(self, info, searcher: Searcher, first) -> ModelSelectionResult:
        controller = _SearchController(self, info, searcher, first)
        columns = tuple(dict.fromkeys(self.feature_columns + self.label_columns))
        total = getattr(searcher, "num_models", None) or len(getattr(searcher, "points", [])) or None
        reporter = ProgressReporter(total, f"val_{self.evaluation_metric}", self.backend.num_workers,
                                    verbose=self.verbose,
                                    params=lambda mid: controller.params.get(mid, {}))
        rec = record_search(self.store, f"{type(self).__name__}-{self.run_id}",
                            listeners=(reporter,), records=getattr(self, "records", None),
                            mlflow=getattr(self, "mlflow", None),
                            kind="tune", metric=f"val_{self.evaluation_metric}", budget=total,
                            num_workers=self.backend.num_workers,
                            params=lambda mid: controller.params.get(mid, {}),
                            config={"num_epochs": self.num_epochs, "seed": self.seed,
                                    "space": {k: repr(v) for k, v in self.search_space.items()}})
        t0 = time.monotonic()
        hopper = ModelHopper(lambda: self.backend.start_workers(self.store, info, columns),
                             self.store, seed=self.seed, listener=rec.listener,
                             num_workers=self.backend.num_workers, commands=rec.commands)
        try:
            stats = hopper.run(controller)
            rec.done(hopper.figures(time.monotonic() - t0))
        finally:
            reporter.close()
            rec.close()
        figures = hopper.figures(time.monotonic() - t0)
        log.info("search done: %d models, utilisation %.1f%%, hop overhead %.2f%% of sub-epoch time",
                 len(hopper.runs), 100 * figures["utilisation"], 100 * figures["hop_overhead"])
        result = controller.result(hopper, figures, stats)
        rec.finish(result)
        return result


class _SearchController:
    """Feeds searcher configurations into the hopper and tells the searcher the outcome."""

    def __init__(self, selection: ModelSelection, info, searcher: Searcher, first):
        self.sel, self.info, self.searcher = selection, info, searcher
        self.pending = [first] if first else []
        self.params: dict[str, dict] = {}
        self.point_of: dict[str, int] = {}
        self.spark_models: dict[str, SparkModel] = {}
        self.exhausted = False
        self.parallelism = selection.parallelism or selection._default_parallelism()

    def refill(self, hopper: ModelHopper) -> None:
        while not self.exhausted and len(hopper.active_models) < self.parallelism:
            nxt = self.pending.pop(0) if self.pending else self.searcher.ask()
            if nxt is None:
                self.exhausted = True
                break
            self._add(hopper, *nxt)

    def _add(self, hopper: ModelHopper, point_id: int, params: dict) -> None:
        import keras

        sel = self.sel
        index = len(self.params)
        model_id = f"{sel.run_id}_{index:03d}"
        keras.utils.set_random_seed(visit_seed(sel.seed, str(index), -1, -1))  # initial weights
        est = sel._estimator(params)
        io = model_io(est, self.info.columns, sel.feature_columns, sel.label_columns)
        spec_key = sel.store.checkpoint_key(model_id, "model.keras")
        sel.store.write_bytes(spec_key, est.to_bytes())
        if est.custom_objects:
            import cloudpickle

            from cerebro.keras.runtime import CUSTOM_OBJECTS

            sel.store.write_bytes(sel.store.checkpoint_key(model_id, CUSTOM_OBJECTS),
                                  cloudpickle.dumps(est.custom_objects))
        extra = {}
        if est.transformation_fn_bytes() is not None:  # compat: applied by the worker per batch
            from cerebro.keras.estimator import TRANSFORMATION_FN

            extra["transform_key"] = sel.store.checkpoint_key(model_id, TRANSFORMATION_FN)
            sel.store.write_bytes(extra["transform_key"], est.transformation_fn_bytes())
        self.params[model_id], self.point_of[model_id] = params, point_id
        hopper.add_model(model_id, spec_key, io, est.batch_size, sel.num_epochs,
                         seed_key=str(index), **extra)
        self.spark_models[model_id] = (spec_key, io, est)
        if sel.verbose:
            log.info("model %s added: %s", model_id, params)

    def add_manual(self, hopper: ModelHopper, params: dict) -> str:
        """Adds a model with hyperparameters a person chose (the searcher is not told)."""
        self._add(hopper, None, dict(params))
        return next(reversed(self.params))

    def on_epoch_end(self, hopper, model_id, epoch, metrics) -> None:
        pass  # progress is shown by the ProgressReporter listening to the hopper

    def _loss(self, hopper, model_id) -> Optional[float]:
        hist = hopper.runs[model_id].history.get(f"val_{self.sel.evaluation_metric}")
        if not hist:
            return None
        v = hist[-1]
        return -v if is_maximized(self.sel.evaluation_metric) else v

    def on_model_done(self, hopper, model_id) -> None:
        if self.point_of[model_id] is not None:  # None: added by hand
            self.searcher.tell(self.point_of[model_id], self._loss(hopper, model_id))
        hopper.dispatch()  # idle workers first; building the next estimator takes a while
        self.refill(hopper)

    def on_model_failed(self, hopper, model_id, error) -> None:
        if self.point_of[model_id] is not None:
            self.searcher.tell(self.point_of[model_id], None)
        self.refill(hopper)

    def result(self, hopper: ModelHopper, figures: dict, stats) -> ModelSelectionResult:
        sel = self.sel
        models = {}
        for mid, (spec_key, io, est) in self.spark_models.items():
            run = hopper.runs[mid]
            models[mid] = SparkModel.from_store(
                sel.store, mid, spec_key, run.state_key, history=run.history,
                feature_columns=io.feature_columns, label_columns=io.label_columns,
                input_shapes=io.input_shapes, custom_objects=est.custom_objects,
                params=self.params[mid])
        metric = f"val_{sel.evaluation_metric}"
        key = ranking_key(metric)
        ok = [m for m in models if hopper.runs[m].status != FAILED and hopper.runs[m].history]
        if not ok:
            errors = {m: r.error for m, r in hopper.runs.items() if r.error}
            raise RuntimeError(f"every model failed; errors: {errors}")
        missing = [m for m in ok if metric not in hopper.runs[m].history]
        if missing:
            known = sorted(hopper.runs[ok[0]].history)
            raise ValueError(
                f"evaluation_metric {sel.evaluation_metric!r} gives no {metric!r}; "
                f"the models report {known}")
        best = min(ok, key=lambda m: key(hopper.runs[m].history[metric][-1]))
        best_model = models[best]
        return ModelSelectionResult(
            best_model, best_model.history, models, best_model.output_names,
            evaluation_metric=sel.evaluation_metric,
            statuses={m: r.status for m, r in hopper.runs.items()},
            errors={m: r.error for m, r in hopper.runs.items() if r.error},
            stats=figures)


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
