"""One NAS search: validate, prepare, configure the graph from the data, run, collect."""

from __future__ import annotations

import time

import numpy as np

from cerebro._logging import get_logger
from cerebro.engine.hopper import FAILED, ModelHopper
from cerebro.keras.estimator import SparkModel
from cerebro.nas import dataprep
from cerebro.metrics import ranking_key
from cerebro.nas.bridge import NasController, model_id_of
from cerebro.nas.builder import build_trial_model, fixed_values, pin_no_download
from cerebro.progress import ProgressReporter
from cerebro.records import record_search
from cerebro.tune.result import ModelSelectionResult

log = get_logger("nas")


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


def run_search(am, df, epochs: int, input_shape, batch_size: int, validation_df=None):
    """Runs the search of ``am`` (a bound ``HyperHyperModel``) on ``df``."""
    res = am._resources
    cfg = am._tuner_cfg
    backend, store = res["backend"], res["store"]
    check_objective(cfg["objective"], am.heads)  # before any Spark job
    data = dataprep.prepare(am, df, epochs, input_shape, batch_size, validation_df)
    seed = am.seed or 0
    feature_cols, label_cols, shapes, targets = (data.feature_columns, data.label_columns,
                                                 data.shapes, data.targets)
    sample_inputs, info, groups = data.sample_inputs, data.info, data.groups

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

    io = data.io
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
    columns = data.columns
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
              "groups": groups, "shapes": shapes, "label_columns": label_cols, "stats": stats,
              "inputs": data.inputs, "dataset": info.fingerprint}
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
