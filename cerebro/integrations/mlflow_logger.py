"""``MlflowLogger``: a search logged to MLflow as it runs (``pip install cerebro-nas[mlflow]``).

The search is one MLflow run; each trial is a run nested in it (tag ``mlflow.parentRunId``)
with its hyperparameters as params and every epoch's metrics (``step`` is the epoch, counted
from 1 as in the records and the progress view). Once the search's result is known, the
best trial's run gets the trained model as an artifact, ``model/<model_id>.keras`` (a plain
Keras file: ``keras.models.load_model`` reads it; no MLflow model flavour, so no TensorFlow),
and the search's run the tags ``cerebro.best_model_id`` / ``cerebro.best_run_id`` and the
best trial's final metrics as ``best_<name>``.

How a search asks for it (see :func:`from_setting`): the environment variable
``CEREBRO_MLFLOW`` holds a tracking URI (``sqlite:///mlflow.db``, ``http://host:5000``, …; or
``1``/``on`` for MLflow's own default, i.e. ``MLFLOW_TRACKING_URI``), or the search's
``mlflow`` setting does the same (a URI, ``True``, ``False`` or an :class:`MlflowLogger`).
``CEREBRO_MLFLOW_EXPERIMENT`` names the MLflow experiment (default ``cerebro``).

MLflow is imported only when a search asks for it. Runs are handled through an explicit
``MlflowClient``, never the fluent active-run stack, so the user's own active run is left
alone and trials need not nest in call order. An MLflow failure never stops a search: it is
logged (logger ``cerebro.mlflow``) and the event dropped; after a few failures in a row
(an unreachable server) the logger gives up for the rest of the search.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import threading
import time
from typing import Any, Callable, Iterable, Optional

from cerebro._logging import get_logger
from cerebro.wire import EpochEnd, Listener, ModelAdded, ModelDone, ModelFailed, ModelResumed

log = get_logger("mlflow")

ENV_URI = "CEREBRO_MLFLOW"
ENV_EXPERIMENT = "CEREBRO_MLFLOW_EXPERIMENT"
DEFAULT_EXPERIMENT = "cerebro"
INSTALL_HINT = "pip install 'cerebro-nas[mlflow]'"
_OFF = ("", "0", "off", "false", "no", "none")
_ON = ("1", "on", "true", "yes")
_MAX_KEY, _MAX_VALUE, _BATCH = 250, 6000, 100  # MLflow's key / param value / batch limits
_MAX_FAILURES = 3  # failed MLflow calls in a row before the logger gives up
_BAD_KEY_CHARS = re.compile(r"[^\w\-. /]")


def import_mlflow():
    """The ``mlflow`` module, or an ``ImportError`` that says how to install it."""
    try:
        import mlflow
        from mlflow.tracking import MlflowClient  # noqa: F401 - the part this module uses
    except ImportError as e:
        raise ImportError(
            f"MLflow logging was asked for (the {ENV_URI} environment variable or the mlflow "
            f"setting of the search) but MLflow is not installed: {INSTALL_HINT}") from e
    return mlflow


def from_setting(setting: Any = None) -> Optional["MlflowLogger"]:
    """The logger a search asked for, or ``None``.

    Args:
        setting: ``None`` (then the ``CEREBRO_MLFLOW`` environment variable decides),
            ``False``/``"off"``, ``True``/``"on"`` (MLflow's default tracking URI), a tracking
            URI, or an :class:`MlflowLogger` (used as it is).

    Raises:
        ImportError: MLflow logging was asked for and MLflow is not installed.
    """
    if setting is None:
        setting = os.environ.get(ENV_URI)
    if setting is None or setting is False:
        return None
    if isinstance(setting, MlflowLogger):
        return setting
    if setting is True:
        return MlflowLogger()
    text = str(setting).strip()
    if text.lower() in _OFF:
        return None
    return MlflowLogger(None if text.lower() in _ON else text)


def _key(name: Any) -> str:
    return _BAD_KEY_CHARS.sub("_", str(name))[:_MAX_KEY] or "_"


def _flat(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        elif v is not None:
            out[f"{prefix}{k}"] = v
    return out


def _number(v: Any) -> Optional[float]:
    """``v`` as a float metric value (numpy scalars too), or ``None`` if it is not one."""
    if isinstance(v, bool):
        return float(v)
    item = getattr(v, "item", None)
    if callable(item) and not isinstance(v, (int, float)):
        try:
            v = item()
        except (TypeError, ValueError):
            return None
    if isinstance(v, (int, float)):
        return float(v)
    return None


def _now_ms() -> int:
    return int(time.time() * 1000)


class MlflowLogger(Listener):
    """Search listener that logs a search to MLflow.

    :func:`cerebro.records.record_search` drives it: :meth:`start` when the search starts,
    the hopper's events while it runs, :meth:`done` / :meth:`close` when the hopper stops and
    :meth:`finish` with the search's result.

    Args:
        tracking_uri: Where to log (``sqlite:///…``, ``http://…``, ``databricks``, …);
            ``None``: MLflow's default (``MLFLOW_TRACKING_URI``).
        experiment_name: The MLflow experiment (created if missing); default
            ``CEREBRO_MLFLOW_EXPERIMENT`` or ``"cerebro"``.
        artifact_location: Artifact root of the experiment when this logger creates it.
        tags: Extra tags for the search's run.
        log_model: Log the best model's ``.keras`` file at the end.

    Raises:
        ImportError: MLflow is not installed.
    """

    def __init__(self, tracking_uri: Optional[str] = None, experiment_name: Optional[str] = None,
                 *, artifact_location: Optional[str] = None, tags: Optional[dict] = None,
                 log_model: bool = True):
        import_mlflow()
        self.tracking_uri = tracking_uri
        self.experiment_name = (experiment_name or os.environ.get(ENV_EXPERIMENT)
                                or DEFAULT_EXPERIMENT)
        self.artifact_location = artifact_location
        self.tags = dict(tags or {})
        self.log_model = log_model
        self.client = None  # an MlflowClient from start() on (no I/O before)
        self.experiment_id: Optional[str] = None
        self.parent_run_id: Optional[str] = None
        self.run_ids: dict[str, str] = {}  # model_id -> nested run id
        self.params: Callable[[str], dict] = lambda model_id: {}
        self._running: set[str] = set()
        self._done = self._closed = False
        self._failures = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (f"MlflowLogger({self.tracking_uri or 'default'!r}, "
                f"experiment={self.experiment_name!r}, run={self.parent_run_id})")

    # -- the search's run -------------------------------------------------------------------
    def start(self, name: str, *, params: Optional[Callable[[str], dict]] = None,
              kind: Optional[str] = None, metric: Optional[str] = None,
              num_workers: Optional[int] = None, budget: Optional[int] = None,
              config: Optional[dict] = None) -> "MlflowLogger":
        """Opens the search's run (raises if MLflow cannot be reached: the caller decides).

        Args:
            name: The run's name (the search's experiment name in the records).
            params: ``model_id -> hyperparameters`` lookup, called when a trial is added.
            kind / metric / num_workers / budget / config: Logged as the run's params.
        """
        from mlflow.tracking import MlflowClient

        self.params = params or (lambda model_id: {})
        self.run_ids, self._running = {}, set()  # (a logger may serve one search after another)
        self._done = self._closed = False
        self._failures = 0
        if self.client is None:
            self.client = MlflowClient(tracking_uri=self.tracking_uri)
        if self.experiment_id is None:
            self.experiment_id = self._experiment()
        tags = {"cerebro.kind": kind, "cerebro.metric": metric, **self.tags}
        run = self.client.create_run(self.experiment_id, run_name=name,
                                     tags={k: str(v) for k, v in tags.items() if v is not None})
        self.parent_run_id = run.info.run_id
        self._log_params(self.parent_run_id, {"kind": kind, "metric": metric,
                                              "num_workers": num_workers, "budget": budget,
                                              **_flat(dict(config or {}))})
        log.info("logging search %s to MLflow: experiment %r, run %s", name,
                 self.experiment_name, self.parent_run_id)
        return self

    def _experiment(self) -> str:
        exp = self.client.get_experiment_by_name(self.experiment_name)
        if exp is not None:
            return exp.experiment_id
        try:
            return self.client.create_experiment(self.experiment_name,
                                                 artifact_location=self.artifact_location)
        except Exception:  # another search created it meanwhile
            exp = self.client.get_experiment_by_name(self.experiment_name)
            if exp is None:
                raise
            return exp.experiment_id

    # -- listener ---------------------------------------------------------------------------
    def on_model_added(self, event: ModelAdded) -> None:
        self._event(f"model_added of {event.model_id}", self._model_added, event)

    def on_epoch_end(self, event: EpochEnd) -> None:
        self._event(f"epoch_end of {event.model_id}", self._epoch_end, event)

    def on_model_done(self, event: ModelDone) -> None:
        tags = {"cerebro.status": str(event.status)}
        if event.stop_reason:
            tags["cerebro.stop_reason"] = event.stop_reason
        self._event(f"model_done of {event.model_id}", self._end_trial, event.model_id,
                    "FINISHED", tags)

    def on_model_failed(self, event: ModelFailed) -> None:
        self._event(f"model_failed of {event.model_id}", self._end_trial, event.model_id,
                    "FAILED", {"cerebro.status": "FAILED", "cerebro.error": event.error})

    def on_model_resumed(self, event: ModelResumed) -> None:
        self._event(f"model_resumed of {event.model_id}", self._model_resumed, event)

    def _event(self, what: str, fn: Callable, *args) -> None:
        """Logs an event once the search's run is open (an error is logged, never raised)."""
        if self.parent_run_id is not None:
            self._guard(what, fn, *args)

    def _model_added(self, e: ModelAdded) -> None:
        model_id = e.model_id
        run_id = self.run_ids.get(model_id)
        if run_id is not None:  # added again (resumed): the same run goes on
            self.client.update_run(run_id, status="RUNNING")
        else:
            run_id = self.client.create_run(
                self.experiment_id, run_name=model_id,
                tags={"mlflow.parentRunId": self.parent_run_id,
                      "cerebro.model_id": model_id}).info.run_id
            self.run_ids[model_id] = run_id
            params = e.params
            if params is None:
                try:
                    params = dict(self.params(model_id) or {})
                except Exception as err:  # noqa: BLE001
                    log.debug("no hyperparameters for %s: %s", model_id, err)
                    params = {}
            self._log_params(run_id, _flat(dict(params)))
        self._running.add(model_id)
        self._set_tags(run_id, {"cerebro.status": "RUNNING",
                                "cerebro.epochs_planned": e.epochs})

    def _epoch_end(self, e: EpochEnd) -> None:
        run_id = self.run_ids.get(e.model_id)
        if run_id is None:
            return
        self._log_metrics(run_id, dict(e.metrics), e.epoch + 1, _now_ms())

    def _model_resumed(self, e: ModelResumed) -> None:
        run_id = self.run_ids.get(e.model_id)
        if run_id is None:
            return
        self.client.update_run(run_id, status="RUNNING")
        self._running.add(e.model_id)
        self._set_tags(run_id, {"cerebro.status": "RUNNING",
                                "cerebro.epochs_planned": e.epochs})

    def _end_trial(self, model_id: str, status: str, tags: dict) -> None:
        run_id = self.run_ids.get(model_id)
        if run_id is None:
            return
        self._running.discard(model_id)
        self._set_tags(run_id, tags)
        self.client.set_terminated(run_id, status=status)

    # -- the end ----------------------------------------------------------------------------
    def done(self, stats: Optional[dict] = None) -> None:
        """The hopper finished normally; ``stats`` (its figures) go on the search's run."""
        self._done = True
        if stats and self.parent_run_id is not None:
            self._guard("the search's figures", self._log_metrics, self.parent_run_id,
                        _flat(dict(stats)), None, _now_ms())

    def close(self) -> None:
        """Ends the open runs: trials still running ``KILLED``, the search ``FINISHED`` when
        :meth:`done` came first, else ``FAILED``. Idempotent."""
        if self._closed or self.parent_run_id is None:
            return
        self._closed = True
        for model_id in sorted(self._running):
            self._guard(f"the end of {model_id}", self._end_trial, model_id, "KILLED",
                        {"cerebro.status": "FAILED",
                         "cerebro.error": "the search stopped before this trial ended"})
        self._guard("the end of the search", self.client.set_terminated, self.parent_run_id,
                    "FINISHED" if self._done else "FAILED")

    def finish(self, result) -> None:
        """Logs the outcome: the best model's ``.keras`` file on the best trial's run (the
        search's run when that trial ran in an earlier session), its id and final metrics on
        the search's run.

        Args:
            result: The search's ``ModelSelectionResult``.
        """
        if self.parent_run_id is None:
            return
        best = result.get_best_model()
        model_id = str(getattr(best, "model_id", ""))
        run_id = self.run_ids.get(model_id)
        final = {f"best_{k}": v[-1] for k, v in (getattr(best, "history", None) or {}).items()
                 if v}
        self._guard("the best model's id", self._set_tags, self.parent_run_id,
                    {"cerebro.best_model_id": model_id, "cerebro.best_run_id": run_id})
        self._guard("the best model's metrics", self._log_metrics, self.parent_run_id, final,
                    None, _now_ms())
        if self.log_model:
            self._guard("the best model", self._log_keras, best, run_id or self.parent_run_id)

    def _log_keras(self, model, run_id: str) -> None:
        name = re.sub(r"[^\w\-.]", "_", str(getattr(model, "model_id", "model"))) or "model"
        with tempfile.TemporaryDirectory(prefix="cerebro-mlflow-") as tmp:
            path = os.path.join(tmp, f"{name}.keras")
            model.keras().save(path)
            self.client.log_artifact(run_id, path, artifact_path="model")
        log.info("logged the best model %s to MLflow run %s", name, run_id)

    # -- MLflow calls -----------------------------------------------------------------------
    def _guard(self, what: str, fn: Callable, *args) -> None:
        """Calls ``fn(*args)``; an error is logged, never raised."""
        if self._failures >= _MAX_FAILURES:
            return
        with self._lock:
            try:
                fn(*args)
                self._failures = 0
            except Exception as e:  # noqa: BLE001 - MLflow must never stop a search
                self._failures += 1
                log.warning("MLflow: could not log %s: %s", what, e)
                if self._failures >= _MAX_FAILURES:
                    log.warning("MLflow: %d failures in a row; no more MLflow logging for "
                                "this search", self._failures)

    def _log_params(self, run_id: str, params: dict) -> None:
        from mlflow.entities import Param

        items = [Param(_key(k), str(v)[:_MAX_VALUE]) for k, v in params.items() if v is not None]
        for batch in _batches(items):
            self.client.log_batch(run_id, params=batch)

    def _set_tags(self, run_id: str, tags: dict) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, str(v)[:_MAX_VALUE]) for k, v in tags.items() if v is not None]
        for batch in _batches(items):
            self.client.log_batch(run_id, tags=batch)

    def _log_metrics(self, run_id: str, metrics: dict, step: Optional[int], ts: int) -> None:
        from mlflow.entities import Metric

        items = []
        for k, v in metrics.items():
            x = _number(v)
            if x is not None and not math.isinf(x):  # NaN is fine, inf is not
                items.append(Metric(_key(k), x, ts, step or 0))
        for batch in _batches(items):
            self.client.log_batch(run_id, metrics=batch)


def _batches(items: list, size: int = _BATCH) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
