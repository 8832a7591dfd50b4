"""One NAS search: validate, prepare, configure the graph from the data, run, collect."""

from __future__ import annotations

import time
from typing import Optional

import numpy as np

from cerebro._logging import get_logger
from cerebro.data.columns import inspect_dataframe
from cerebro.data.metadata import ARRAY, SCALAR, ColumnInfo
from cerebro.data.prepare import prepare_data
from cerebro.engine.hopper import FAILED, ModelHopper
from cerebro.wire import ModelIO
from cerebro.keras.estimator import SparkModel
from cerebro.nas import analysis, schema
from cerebro.metrics import ranking_key
from cerebro.nas.bridge import NasController, model_id_of
from cerebro.nas.builder import build_trial_model, fixed_values, pin_no_download
from cerebro.progress import ProgressReporter
from cerebro.records import record_search
from cerebro.tune.result import ModelSelectionResult

log = get_logger("nas")
VALIDATION_FLAG = "__cerebro_validation"


def _with_validation_df(df, validation_df):
    from pyspark.sql import functions as F

    if validation_df is None:
        return df, None
    return (df.withColumn(VALIDATION_FLAG, F.lit(False))
            .unionByName(validation_df.withColumn(VALIDATION_FLAG, F.lit(True)))), VALIDATION_FLAG


def expected_metrics(heads) -> list[str]:
    """The metric names training will report (KerasTuner style: ``x`` and ``val_x``)."""
    import keras

    names = ["loss"]
    for head in heads:
        prefix = f"{head.name}_" if len(heads) > 1 else ""
        if len(heads) > 1:
            names.append(f"{head.name}_loss")
        for m in head.metrics or []:
            m_name = m if isinstance(m, str) else getattr(m, "name", None) or getattr(m, "__name__", "")
            if isinstance(m, keras.metrics.Metric):
                m_name = m.name
            names.append(prefix + m_name)
    return names + ["val_" + n for n in names]


def check_objective(objective, heads) -> None:
    import keras_tuner as kt

    names = [o.name if isinstance(o, kt.Objective) else o
             for o in (objective if isinstance(objective, list) else [objective])]
    known = expected_metrics(heads)
    for name in names:
        if name not in known:
            raise ValueError(f"objective {name!r} is not a metric this graph reports; "
                             f"choose one of {known}")


def _configure_graph(am, groups, shapes, targets, sample, rows: int, batch_size: int, epochs: int):
    """Runs AutoKeras's analysers on the sample / label summary and sets the I/O shapes."""
    for node, group, shape in zip(am.inputs, groups, shapes):
        analyser = node.get_analyser()
        analyser.update(sample[_feature_column(group)].reshape((-1,) + tuple(shape)))
        analyser.finalize()
        node.config_from_analyser(analyser)
    for head, target in zip(am.heads, targets):
        analyser = head.get_analyser()
        analyser.update(target.analyser_sample())
        analyser.finalize()
        head.config_from_analyser(analyser)
    for node, shape in zip(am.graph.inputs, shapes):  # what Graph.set_io_shapes does
        node.shape = tuple(shape)
    for node, target in zip(am.graph.outputs, targets):
        node.in_blocks[0].shape = tuple(target.shape)
    first = am.inputs[0]
    first.num_samples, first.batch_size = rows, batch_size
    am.graph.set_fit_args(0, epochs=epochs)


def _feature_column(group) -> str:
    return group[0] if len(group) == 1 else schema.STACKED_PREFIX + "0"


def _stack_columns(df, groups):
    from pyspark.sql import functions as F

    for group in groups:
        if len(group) > 1:
            df = df.withColumn(_feature_column(group),
                               F.array(*[F.col(f"`{c}`").cast("float") for c in group]))
    return df


def _prepared_columns(columns, groups, targets):
    """The ``ColumnInfo`` of the columns ``prepare_data`` writes, derived from the user's."""
    out = {}
    for group in groups:
        name = _feature_column(group)
        out[name] = (columns[name] if len(group) == 1 else
                     ColumnInfo(name=name, kind=ARRAY, length=len(group),
                                source_type="array<float>"))
    for t in targets:
        out[t.column] = (columns[t.source_column] if t.classes is None else
                         ColumnInfo(name=t.column, kind=SCALAR, length=1, source_type="int"))
    return out


def run_search(am, df, epochs: int, input_shape, batch_size: int, validation_df=None):
    """Runs the search of ``am`` (a bound ``HyperHyperModel``) on ``df``."""
    res = am._resources
    cfg = am._tuner_cfg
    backend, store = res["backend"], res["store"]
    check_objective(cfg["objective"], am.heads)  # before any Spark job
    df, val_col = _with_validation_df(df, validation_df)
    groups = schema.input_groups(am.inputs, res["feature_columns"])
    class_cols = [col for head, col in zip(am.heads, res["label_columns"])
                  if type(head).__name__ == "ClassificationHead"]
    found = inspect_dataframe(df, res["feature_columns"], res["label_columns"], class_cols,
                              max_classes=analysis.MAX_CLASSES)
    columns = found.columns
    shapes = schema.resolve_input_shapes(am.inputs, groups, columns, input_shape)
    targets = []
    for head, col in zip(am.heads, res["label_columns"]):
        if col in class_cols:
            targets.append(analysis.classification_target(col, columns[col],
                                                          found.classes.get(col)))
        else:
            targets.append(analysis.regression_target(col, columns[col]))

    seed = am.seed or 0
    prepared = _stack_columns(analysis.add_class_index_columns(df, targets), groups)
    feature_cols = [_feature_column(g) for g in groups]
    label_cols = [t.column for t in targets]
    info = prepare_data(store, prepared, feature_cols, label_cols, backend.num_workers,
                        validation=val_col or res["validation"], seed=seed,
                        inspected=(found.rows, _prepared_columns(columns, groups, targets)))
    sample = analysis.bounded_sample(store, info, feature_cols, seed)
    _configure_graph(am, groups, shapes, targets, sample, info.train.total_rows, batch_size, epochs)
    sample_inputs = [sample[c].reshape((-1,) + tuple(s)) for c, s in zip(feature_cols, shapes)]

    if am.seed is not None:
        np.random.seed(am.seed)  # AutoKeras's greedy oracle draws from numpy's global RNG
    oracle = am.tuner.oracle
    hp = oracle.get_space()
    build_trial_model(am.graph, hp, sample_inputs)  # registers the graph's hyperparameters
    fixed = fixed_values(cfg["hyperparameters"])

    def pin(hps):
        return pin_no_download(hps, fixed)

    oracle.update_space(pin(hp))
    if am._tuner_cfg["overwrite"]:
        _clear_trial_runs(store)
    am.tuner.save()  # from now on a rerun with overwrite=False resumes this search

    io = ModelIO(tuple(feature_cols), tuple(label_cols), tuple(tuple(s) for s in shapes),
                 tuple(t.shape for t in targets), tuple(t.encoding for t in targets))
    parallelism = cfg["parallelism"] or 2 * backend.num_workers
    controller = NasController(oracle, lambda h: build_trial_model(am.graph, h, sample_inputs),
                               store, io, batch_size, epochs, parallelism,
                               on_event=getattr(am, "_on_event", None), pin_hps=pin,
                               seed=seed)
    objective = cfg["objective"]
    reporter = ProgressReporter(
        getattr(oracle, "max_trials", None),
        getattr(objective, "name", objective) if not isinstance(objective, list) else "val_loss",
        backend.num_workers, verbose=res["verbose"],
        params=lambda mid: dict(controller.trials[mid].trial.hyperparameters.values)
        if mid in controller.trials else {})
    rec = record_search(store, f"{am.project_name}-{type(oracle).__name__}",
                        listeners=(reporter,), records=res.get("records"),
                        mlflow=res.get("mlflow"), kind="nas",
                        metric=reporter.metric,
                        num_workers=backend.num_workers, budget=getattr(oracle, "max_trials", None),
                        params=reporter.params, config={"epochs": epochs, "batch_size": batch_size})
    t0 = time.monotonic()
    columns = tuple(dict.fromkeys(feature_cols + label_cols))
    hopper = ModelHopper(lambda: backend.start_workers(store, info, columns), store, seed=seed,
                         listener=rec.listener, num_workers=backend.num_workers,
                         commands=rec.commands)
    try:
        stats = hopper.run(controller)
        rec.done(hopper.figures(time.monotonic() - t0))
    finally:
        reporter.close()
        rec.close()
    figures = hopper.figures(time.monotonic() - t0)
    figures["timeline"] = list(stats.timeline)  # (worker, model_id, kind, start_s, end_s)
    log.info("search done: %d trials, utilisation %.1f%%, hop overhead %.2f%%",
             len(controller.order), 100 * figures["utilisation"], 100 * figures["hop_overhead"])
    result = _result(am, controller, hopper, figures, feature_cols, label_cols, shapes, targets)
    rec.finish(result)
    fitted = {"result": result, "targets": targets, "feature_columns": feature_cols,
              "groups": groups, "shapes": shapes, "label_columns": label_cols, "stats": stats}
    return result, fitted


def _clear_trial_runs(store) -> None:
    """overwrite=True: earlier trials' checkpoints and logs go, so nothing stale is resumed."""
    for name in store.listdir(store.runs_key()):
        if name.startswith("trial_"):
            store.delete(store.run_key(name))


def _trial_records(am, controller, hopper) -> dict[str, dict]:
    """Every trial the oracle knows, this run's and earlier runs': history, state, status."""
    store = am._resources["store"]
    out = {}
    for trial_id, trial in sorted(am.tuner.oracle.trials.items()):
        model_id = model_id_of(trial_id)
        run = hopper.runs.get(model_id)
        if run is not None:
            rec = {"history": run.history, "state_key": run.state_key, "status": run.status,
                   "error": run.error}
        else:
            key = store.checkpoint_key(model_id, "log.json")
            if not store.exists(key):
                continue  # failed before its first sub-epoch
            log_rec = store.read_json(key)
            status = {"COMPLETED": "DONE", "FAILED": FAILED}.get(str(trial.status), "STOPPED")
            rec = {"history": log_rec["history"], "state_key": log_rec["state_key"],
                   "status": status, "error": log_rec.get("error", "")}
        rec["trial"] = trial
        rec["spec_key"] = store.checkpoint_key(model_id, "model.keras")
        out[model_id] = rec
    return out


def _result(am, controller, hopper, figures, feature_cols, label_cols, shapes, targets):
    oracle = am.tuner.oracle
    records = _trial_records(am, controller, hopper)
    models = {}
    for model_id, rec in records.items():
        trial = rec["trial"]
        m = SparkModel.from_store(
            am._resources["store"], model_id, rec["spec_key"], rec["state_key"],
            history=rec["history"], feature_columns=feature_cols, label_columns=label_cols,
            input_shapes=shapes, output_names=[f"{t.source_column}__pred" for t in targets],
            params=dict(trial.hyperparameters.values))
        models[model_id] = m
        am.tuner.register_model(trial.trial_id, m)
    ok = [m for m, r in records.items() if r["status"] != FAILED and r["history"]]
    if not ok:
        errors = {m: r["error"] for m, r in records.items() if r["error"]}
        raise RuntimeError(f"every trial failed; errors: {errors}")
    best_trials = oracle.get_best_trials(1)
    best_id = model_id_of(best_trials[0].trial_id) if best_trials else None
    if best_id not in ok:
        metric = f"val_{am._resources['evaluation_metric']}"
        key = ranking_key(metric)
        best_id = min(ok, key=lambda m: key((records[m]["history"].get(metric) or [None])[-1]))
    best = models[best_id]
    am.tuner.save()
    return ModelSelectionResult(
        best, best.history, models, best.output_names,
        evaluation_metric=am._resources["evaluation_metric"],
        statuses={m: r["status"] for m, r in records.items()},
        errors={m: r["error"] for m, r in records.items() if r["error"]}, stats=figures)
