"""Assembles a search's ``ModelSelectionResult``: every trial's model, history and status.

The best trial is the one whose best epoch scores best by the objective (KerasTuner's
definition), and each model's weights are its best epoch's, so the exported model is the
one whose score is shown. Trials of earlier runs of the project (a resumed search) are
included from their logs in the store.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Optional

from cerebro.engine.runs import ModelRun
from cerebro.storage.base import Store
from cerebro.wire import ModelIO, ModelStatus

if TYPE_CHECKING:
    from cerebro.keras.model import SparkModel
    from cerebro.search.runner import SearchRunner
    from cerebro.tune.result import ModelSelectionResult


@dataclasses.dataclass(frozen=True)
class _Trial:
    """What the result needs of one trial (this run's ``ModelRun`` or an earlier run's log)."""

    history: dict[str, list[float]]
    state_key: Optional[str]
    status: ModelStatus
    error: str
    io: ModelIO
    best_value: Optional[float]
    best_epoch: Optional[int]
    stop_reason: str = ""  # why a STOPPED trial was stopped early


def _records(runner: SearchRunner, runs: dict[str, ModelRun]) -> dict[str, _Trial]:
    """What the result needs of every trial, this run's and earlier runs'."""
    out: dict[str, _Trial] = {}
    io: Optional[ModelIO] = next((r.io for r in runs.values()), None)
    for model_id, run in runs.items():
        out[model_id] = _Trial(run.history, run.result_state_key, run.status, run.error, run.io,
                               run.best_value, run.best_epoch, run.stop_reason)
    earlier = {**runner.source.earlier_trials(), **runner.finished_before}
    for model_id, status in earlier.items():
        if model_id in out:
            continue
        record = runner.layout.read_log(model_id)
        if record is None:
            continue  # failed before its first sub-epoch
        rec_io = ModelIO.from_json(record["io"]) if "io" in record else io
        if rec_io is None:
            continue
        if record.get("status") == ModelStatus.STOPPED and status == ModelStatus.DONE:
            status = ModelStatus.STOPPED  # the oracle ends a trial stopped early COMPLETED
        out[model_id] = _Trial(record["history"],
                               record.get("best_state_key") or record["state_key"],
                               ModelStatus(status), record.get("error", ""), rec_io,
                               record.get("best_value"), record.get("best_epoch"),
                               record.get("stop_reason") or "")
    return out


def _spark_model(runner: SearchRunner, model_id: str, rec: _Trial) -> SparkModel:
    from cerebro.keras.model import SparkModel

    lay, store = runner.layout, runner.store
    custom = None
    if store.exists(lay.custom_objects_key(model_id)):
        import cloudpickle

        custom = cloudpickle.loads(store.read_bytes(lay.custom_objects_key(model_id)))
    io = rec.io
    model: SparkModel = SparkModel.from_store(
        store, model_id, lay.spec_key(model_id), rec.state_key, history=rec.history,
        feature_columns=io.feature_columns, label_columns=io.label_columns,
        input_shapes=io.input_shapes, custom_objects=custom,
        output_names=runner.settings.output_names, params=runner.source.params(model_id)
        or runner.params.get(model_id, {}))
    return model


def assemble(runner: SearchRunner, runs: dict[str, ModelRun],
             figures: dict[str, Any]) -> ModelSelectionResult:
    """The ``ModelSelectionResult`` of a finished search.

    Raises:
        RuntimeError: Every trial failed (their errors are listed).
        ValueError: No trial reports the objective (the message lists what they report).
    """
    from cerebro.tune.result import ModelSelectionResult

    records = _records(runner, runs)
    ok = [m for m, r in records.items() if r.status != ModelStatus.FAILED and r.history]
    errors = {**runner.build_errors, **{m: r.error for m, r in records.items() if r.error}}
    if not ok:
        raise RuntimeError(f"every trial failed; errors: {errors}")
    objective = runner.objective
    if objective.value_fn is None and not any(objective.name in records[m].history for m in ok):
        known = sorted(records[ok[0]].history)
        raise ValueError(f"the objective {objective.name!r} is not a metric the models report; "
                         f"they report {known}")
    best_id = min(ok, key=lambda m: objective.sort_key(records[m].best_value))
    models = {m: _spark_model(runner, m, r) for m, r in records.items()}
    best = models[best_id]
    return ModelSelectionResult(
        best, best.history, models, runner.settings.output_names,
        evaluation_metric=runner.settings.evaluation_metric,
        statuses={**{m: str(ModelStatus.FAILED) for m in runner.build_errors},
                  **{m: str(r.status) for m, r in records.items()}},
        errors=errors, stats=figures,
        stop_reasons={m: r.stop_reason for m, r in records.items()
                      if r.status == ModelStatus.STOPPED and r.stop_reason})


def store_location(store: Store) -> str:
    """Where the store is, for the records (a URI, or the root path)."""
    try:
        return str(store.uri(""))
    except Exception:  # noqa: BLE001 - a store without URIs still has a root
        return str(getattr(store, "prefix_path", "") or store)
