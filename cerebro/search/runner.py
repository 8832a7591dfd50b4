"""``SearchRunner``: runs one search for either front end, from the first trial to the result.

It is the hopper's controller: it asks the ``TrialSource`` for trials whenever fewer than
``parallelism`` run, builds each trial's model once (on the driver) and writes its spec
through the ``RunLayout``, resumes trials an interrupted earlier run left in the store,
reports every epoch to the source (which may stop the trial), and ends trials. It wires
the listeners (console, records, MLflow) onto the ``EventBus`` and assembles the result.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

from cerebro._logging import get_logger
from cerebro.engine import EventBus, LivenessPolicy, ModelHopper, ModelRun, Phases, PoolSupervisor
from cerebro.engine.ports import Backend
from cerebro.engine.runs import Objective, visit_seed
from cerebro.keras.state import KERAS_BUILD_LOCK
from cerebro.search import result as result_mod
from cerebro.search.callbacks import CallbackDriver, optimizer_learning_rate
from cerebro.search.source import DONE, BuiltModel, TrialRequest, TrialSource
from cerebro.search.early import early_stopping
from cerebro.search.stopping import Stopper
from cerebro.storage.base import Store
from cerebro.storage.layout import RunLayout
from cerebro.wire import (FailReason, Listener, ModelAdded, ModelFailed, ModelIO, ModelResumed,
                          ModelStatus, PlainListener, as_listener)

if TYPE_CHECKING:
    from cerebro.tune.result import ModelSelectionResult

log = get_logger("search")


@dataclasses.dataclass
class RunnerSettings:
    """How one search runs.

    Attributes:
        project: The project's name: its runs' directory and its records experiment.
        parallelism: Trials trained at once.
        output_names: The prediction columns of the result's models.
        evaluation_metric: The metric the result reports (``ModelSelectionResult``).
        seed: Seeds initial weights, visit order, shuffles.
        verbose: 0 silent, 1 progress.
        kind: ``"tune"`` or ``"nas"`` (for records).
        records / mlflow: Where records go (see ``cerebro.records.record_search``: ``None``,
            ``False``, a URL or path, a ``RecordsDB``; a tracking URI, ``True`` or an
            ``MlflowLogger``), handed on as they are.
        listeners: More listeners of the search's events: ``cerebro.wire.Listener`` objects, or
            plain ``(kind, payload)`` callables (``cerebro.wire.CallableListener``).
        config: Anything worth keeping with the records (epochs, space, ...).
        liveness: Visit deadlines; ``max_restarts``: worker restarts allowed (default: the
            backend's settings).
        strict_order: Visit order: ``False`` (default) is work-conserving (a model trains
            on any partition it has not visited this epoch; the order taken is logged in
            ``log.json`` and replayed on resume), ``True`` the seeded strict rotation (the
            same order, so the same result, whatever the timing).
        callbacks: Epoch-level Keras callbacks every trial runs on the driver
            (``cerebro.search.callbacks.check_callbacks`` checked them); a trial's own
            come with its ``BuiltModel.callbacks``.
        stopper: Ends hopeless trials at epoch boundaries (``cerebro.search.stopping``);
            ``None``: every trial trains all its epochs.
        phases: The start-up phases, started when ``fit`` began (the front end marks data
            preparation); default: started when the runner runs. The result's
            ``stats["phases"]`` holds them (``cerebro.engine.phases``).
    """

    project: str
    parallelism: int
    output_names: list[str]
    evaluation_metric: str = "loss"
    seed: int = 0
    verbose: int = 1
    kind: str = "tune"
    records: object = None
    mlflow: object = None
    listeners: tuple[Listener | PlainListener, ...] = ()
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    liveness: Optional[LivenessPolicy] = None
    max_restarts: Optional[int] = None
    strict_order: bool = False
    on_existing: str = "resume"
    clock: Optional[Callable[[], float]] = None
    callbacks: tuple[object, ...] = ()
    stopper: Optional[Stopper] = None
    phases: Optional[Phases] = None


def _build_seed(settings: RunnerSettings, req: TrialRequest) -> int:
    return visit_seed(settings.seed, req.seed_key, -1, -1)


def quiet_console(backend: Backend, verbose: int) -> None:
    """Quiets Spark's progress bars and third-party INFO lines, which would mix with the
    search's own display (when it shows one), from the first Spark job on."""
    if verbose:
        backend.quiet_console()


class SearchRunner:
    """Runs a search; implements the hopper's ``Controller`` protocol.

    Args:
        backend: Starts the workers (``start_workers(store, dataset, columns)``).
        store: The store.
        source: Where the trials come from.
        settings: How the search runs.
        dataset: The prepared data (a ``cerebro.data.DatasetInfo``, handed to the backend
            as it is); ``columns``: the columns workers load.
    """

    def __init__(self, backend: Backend, store: Store, source: TrialSource,
                 settings: RunnerSettings, dataset: object, columns: tuple[str, ...]) -> None:
        self.backend, self.store, self.source, self.settings = backend, store, source, settings
        self.dataset, self.columns = dataset, tuple(columns)
        self.layout = RunLayout(store, settings.project)
        self.params: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.finished_before: dict[str, ModelStatus] = {}
        self.build_errors: dict[str, str] = {}  # trials whose model could not be built
        self.exhausted = False
        self.callbacks = CallbackDriver(settings.callbacks, settings.verbose)
        self.early = early_stopping(settings.stopper, source.objective)
        self.phases = settings.phases or Phases()

    @property
    def objective(self) -> Objective:
        return self.source.objective

    def _build(self, req: TrialRequest) -> BuiltModel:
        # Keras and AutoKeras keep global build state (name counters, the session,
        # hyperparameter scopes): every driver-side build holds the one build lock.
        with KERAS_BUILD_LOCK:
            return req.build(_build_seed(self.settings, req))

    # -- the whole search ------------------------------------------------------------------------
    def run(self) -> ModelSelectionResult:
        """Runs the search to its end; returns its ``ModelSelectionResult``."""
        from cerebro.progress import ProgressReporter
        from cerebro.records import record_search

        s = self.settings
        phases = self.phases = s.phases or Phases()
        workers = self.backend.num_workers
        if self.early is not None:  # a resumed search compares with its earlier trials too
            for model_id in self.source.earlier_trials():
                record = self.layout.read_log(model_id)
                if record is not None:
                    self.early.note_log(model_id, record)
        reporter = ProgressReporter(self.source.budget, self.objective.name, workers,
                                    verbose=s.verbose, params=self.params.get,
                                    direction=self.objective.direction)
        quiet_console(self.backend, s.verbose)
        rec = record_search(self.store, s.project, records=s.records, mlflow=s.mlflow,
                            kind=s.kind, metric=self.objective.name, num_workers=workers,
                            budget=self.source.budget, params=self.params.get,
                            config={**s.config, "objective": self.objective.to_json(),
                                    "store": result_mod.store_location(self.store),
                                    "tuner": self.source.name,
                                    "early_stopping": repr(s.stopper) if s.stopper else None},
                            on_existing=s.on_existing)
        phases.mark("records_ready")
        bus = EventBus([reporter, *rec.listeners, *map(as_listener, s.listeners)],
                       commands=rec.commands)
        supervisor = PoolSupervisor(
            lambda: self.backend.start_workers(self.store, self.dataset, self.columns),
            s.liveness or _liveness(self.backend), _max_restarts(s, self.backend),
            clock=s.clock or time.monotonic)
        hopper = ModelHopper(supervisor, self.layout, self.objective, workers, seed=s.seed,
                             strict_order=s.strict_order, emit=bus.emit,
                             commands=bus.pending_commands, phases=phases)
        clock = supervisor.clock
        t0 = clock()
        try:
            stats = hopper.run(self)
            figures = stats.figures(workers, clock() - t0, supervisor.start_s,
                                    supervisor.restarts)
            figures["phases"] = phases.as_dict()
            bus.close()
            rec.done(figures)
        finally:
            bus.close()
            reporter.close()
            rec.close()
        figures["timeline"] = list(stats.timeline)  # (worker, model_id, kind, start_s, end_s)
        log.info("search done: %d trials, utilisation %.1f%%, hop overhead %.2f%%",
                 len(self.order), 100 * figures["utilisation"], 100 * figures["hop_overhead"])
        result = result_mod.assemble(self, hopper.runs, figures)
        rec.finish(result)
        return result

    # -- Controller protocol -----------------------------------------------------------------------
    def refill(self, hopper: ModelHopper) -> None:
        try:
            while not self.exhausted and len(hopper.active_models) < self.settings.parallelism:
                req = self.source.ask()
                if req is DONE:
                    self.exhausted = True
                if not isinstance(req, TrialRequest):
                    return  # DONE, or WAIT: ask again when a trial ends
                self.start(hopper, req)
        finally:
            # While trials are still to come, the quickest results first: the tuner proposes
            # from them and the stopping rules compare with them. Then the longest first.
            hopper.scheduler.shortest_first = not self.exhausted

    def on_epoch_end(self, hopper: ModelHopper, model_id: str, epoch: int,
                     metrics: dict[str, float]) -> None:
        early = self.early
        if early is not None:
            early.observe(model_id, epoch, metrics)
        keep = self.source.report(model_id, epoch, metrics)
        reason = "" if keep else f"the tuner ({self.source.name}) stopped it"
        go_on, lr = self.callbacks.epoch_end(model_id, epoch, metrics)
        if lr is not None:  # the trial's next visits assign it to its optimizer
            hopper.runs[model_id].learning_rate = lr
        if keep and not go_on:
            reason = "a Keras callback set stop_training"
        keep = keep and go_on
        if keep and early is not None and hopper.has_epochs_left(model_id):
            reason = early.judge(model_id, epoch)
            keep = not reason
        if not keep:
            log.info("%s stopped early after epoch %d: %s", model_id, epoch + 1, reason)
            hopper.stop_model(model_id, reason)
        if early is not None:
            early.judge_again(hopper, model_id, epoch)

    def on_model_done(self, hopper: ModelHopper, model_id: str) -> None:
        run = hopper.runs[model_id]
        self.callbacks.end(model_id)
        self.source.finish(model_id, run.status, run.best_value, reason=run.stop_reason)
        hopper.dispatch()  # idle workers first: building the next trial takes a while
        self.refill(hopper)

    def on_model_failed(self, hopper: ModelHopper, model_id: str, error: str,
                        reason: FailReason) -> None:
        self.callbacks.end(model_id)
        self.source.finish(model_id, ModelStatus.FAILED, None, error)
        hopper.dispatch()
        self.refill(hopper)

    def add_manual(self, hopper: ModelHopper, params: dict[str, Any]) -> str:
        req = self.source.add(params)
        if not self.start(hopper, req):
            raise ValueError(f"{req.model_id} failed to build; see the log")
        return req.model_id

    # -- one trial -----------------------------------------------------------------------------------
    def start(self, hopper: ModelHopper, req: TrialRequest) -> bool:
        """Builds and adds a trial's model (or resumes it); returns False if it failed."""
        self.params[req.model_id] = dict(req.params)
        self.order.append(req.model_id)
        if self.early is not None:
            self.early.started(req.model_id, req.epochs)
        if req.resumable and self._resume(hopper, req):
            return True
        try:
            built = self._build(req)
        except Exception as e:  # noqa: BLE001 - a bad trial must not stop the search
            error = f"{type(e).__name__}: {e}"
            log.warning("trial %s failed to build: %s", req.model_id, error)
            self.build_errors[req.model_id] = error
            hopper.emit(ModelFailed(req.model_id, error, FailReason.BUILD))
            self.source.finish(req.model_id, ModelStatus.FAILED, None, error)
            return False
        run = self._write(req, built)
        self.phases.mark("first_model_built")
        start_epoch, init_state = self._initial_state(hopper, req)
        run.state_key = init_state
        run.learning_rate = self.callbacks.start(req.model_id, req.epochs, start_epoch,
                                                 built.learning_rate, built.callbacks)
        hopper.emit(ModelAdded(req.model_id, req.epochs, req.params, run.spec_key,
                               built.summary))
        hopper.add_model(run, max(1, req.epochs - start_epoch), start_epoch=start_epoch,
                         cost_hint=built.cost_hint)
        return True

    def _write(self, req: TrialRequest, built: BuiltModel) -> ModelRun:
        """Writes the trial's spec (and its custom objects / transformation) to the store."""
        lay = self.layout
        self.store.write_bytes(lay.spec_key(req.model_id), built.spec)
        extras = {lay.custom_objects_key(req.model_id): built.custom_objects,
                  lay.transformation_fn_key(req.model_id): built.transformation_fn}
        for key, obj in extras.items():
            if obj:
                import cloudpickle

                self.store.write_bytes(key, obj if isinstance(obj, bytes) else cloudpickle.dumps(obj))
        return ModelRun(req.model_id, lay.spec_key(req.model_id), built.io, built.batch_size,
                        seed_key=req.seed_key,
                        transform_key=lay.transformation_fn_key(req.model_id)
                        if built.transformation_fn else None)

    def _initial_state(self, hopper: ModelHopper, req: TrialRequest) -> tuple[int, Optional[str]]:
        """A Hyperband trial starts from its parent's result state; without it, from scratch."""
        if req.init_from is None:
            return req.start_epoch, None
        parent = hopper.runs.get(req.init_from)
        if parent is not None:
            state = parent.result_state_key
        else:
            record = self.layout.read_log(req.init_from) or {}
            state = record.get("best_state_key") or record.get("state_key")
        if state is None or not self.store.exists(state):
            log.info("%s: the state of %s is gone; training from scratch", req.model_id,
                     req.init_from)
            return 0, None
        return req.start_epoch, state

    def _resume(self, hopper: ModelHopper, req: TrialRequest) -> bool:
        """Continues a trial an earlier driver left in the store, from its last committed
        sub-epoch; returns False if there is nothing to resume (it then starts afresh)."""
        record = self.layout.read_log(req.model_id)
        if record is None or record.get("state_key") is None \
                or record.get("status") == ModelStatus.FAILED \
                or not self.store.exists(self.layout.spec_key(req.model_id)):
            return False
        if int(record["epochs_done"]) >= req.epochs:  # the crash came after its last epoch
            self.finished_before[req.model_id] = ModelStatus.DONE
            self.source.finish(req.model_id, ModelStatus.DONE, record.get("best_value"))
            return True
        if "io" in record:  # the spec in the store is the model: no rebuild
            io, batch_size = ModelIO.from_json(record["io"]), int(record["batch_size"])
        else:  # a log written before io was logged: the build says how the model reads data
            built = self._build(req)
            io, batch_size = built.io, built.batch_size
        run = ModelRun(req.model_id, self.layout.spec_key(req.model_id), io, batch_size,
                       seed_key=req.seed_key, transform_key=record.get("transform_key"))
        hopper.emit(ModelAdded(req.model_id, req.epochs, req.params, run.spec_key))
        if self.callbacks.callbacks:  # afresh from the resumed epoch, at the logged rate
            lr = record.get("learning_rate")  # (add_model restores it into the run)
            self.callbacks.start(req.model_id, req.epochs, int(record["epochs_done"]),
                                 lr if lr is not None
                                 else _spec_learning_rate(self.store, run.spec_key))
        hopper.add_model(run, req.epochs, resume=record)
        if self.early is not None:
            self.early.note_log(req.model_id, record)
        log.info("%s resumes at epoch %d after %d sub-epoch(s) of it", req.model_id,
                 record["epochs_done"] + 1,
                 len(record["visit_log"].get(str(record["epochs_done"]), [])))
        hopper.emit(ModelResumed(req.model_id, req.epochs))
        return True


def _spec_learning_rate(store: Store, spec_key: str) -> Optional[float]:
    """The compiled learning rate of a model spec (a resumed trial's callbacks start there)."""
    from cerebro.keras import state as state_mod

    model = state_mod.model_from_bytes(store.read_bytes(spec_key))
    return optimizer_learning_rate(model)


def _liveness(backend: Backend) -> LivenessPolicy:
    """The visit deadlines a backend asks for (``SparkBackend(visit_timeout=...)``)."""
    return LivenessPolicy(floor_s=float(backend.visit_deadline_floor),
                          timeout_s=backend.visit_timeout,
                          heartbeat_s=backend.heartbeat_timeout)


def _max_restarts(settings: RunnerSettings, backend: Backend) -> int:
    if settings.max_restarts is not None:
        return settings.max_restarts
    return int(backend.max_restarts)
