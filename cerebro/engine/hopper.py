"""The model hopper: carries out the MOP scheduler's decisions on a worker pool.

This is where a model hops. The loop is event driven: it blocks until a worker answers (or a
visit passes its deadline), feeds the answer to the scheduler, reports finished epochs to its
controller (the ``SearchRunner``) and refills idle workers at once. The pool is the
``PoolSupervisor``'s, store keys the ``RunLayout``'s, listeners the ``EventBus``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Optional

from cerebro._logging import get_logger
from cerebro.engine import commands as commands_mod
from cerebro.engine.controller import Controller
from cerebro.engine.phases import Phases
from cerebro.engine.runs import ModelRun, Objective
from cerebro.engine.stats import HopStats
from cerebro.engine.supervisor import PoolSupervisor
from cerebro.mop import EpochDone, ModelDone, Scheduler, Visit, VisitKind, visit_threads
from cerebro.storage.layout import RunLayout
from cerebro.wire import (Command, EpochEnd, Event, FailReason, LostReason, ModelFailed,
                          ModelStatus, VisitDone, VisitLost, VisitResult, VisitStarted, WorkerUp,
                          WorkersRestarted)
from cerebro.wire import ModelDone as ModelDoneEvent

log = get_logger("engine")


class ModelHopper:
    """Runs models on a worker pool by model hopper parallelism.

    Args:
        supervisor: Owns the worker pool (start, deadlines, restarts).
        layout: The store keys of this project's runs.
        objective: Ranks each model's epochs (its best epoch is its result).
        seed: Seeds the visit order and every visit's shuffle/dropout.
        strict_order: Scheduler mode (see ``cerebro.mop.Scheduler``).
        emit: Sink of the search's events (``cerebro.wire``; an ``EventBus``'s ``emit``).
        commands: Returns the human-in-the-loop commands queued since the last call.
        num_workers: Workers (== partitions).
        phases: Where the start-up phases are marked (workers ready, first visit, ...).
    """

    def __init__(self, supervisor: PoolSupervisor, layout: RunLayout, objective: Objective,
                 num_workers: int, seed: int = 0, strict_order: bool = True,
                 emit: Optional[Callable[[Event], None]] = None,
                 commands: Optional[Callable[[], Sequence[Command]]] = None,
                 phases: Optional[Phases] = None) -> None:
        self.supervisor, self.layout, self.objective = supervisor, layout, objective
        self.clock = supervisor.clock
        self.emit: Callable[[Event], None] = emit or (lambda event: None)
        self.commands = commands
        self.num_workers, self.seed = num_workers, seed
        self.scheduler = Scheduler(num_workers, seed=seed, strict_order=strict_order)
        self.runs: dict[str, ModelRun] = {}
        self.stats = HopStats()
        self.phases = phases or Phases()
        self._inflight: dict[int, tuple[Visit, float]] = {}
        self._stopped: set[str] = set()  # stopped, maybe not yet reported
        self._t0: Optional[float] = None
        self._running = False
        self._hosts: list[str] = [""] * num_workers
        self._cores: Optional[list[int]] = None  # None: elastic threads off

    # -- what controllers call -------------------------------------------------------------
    def add_model(self, run: ModelRun, epochs: int, start_epoch: int = 0,
                  resume: Optional[dict[str, Any]] = None, cost_hint: Optional[float] = None,
                  replay: Optional[Mapping[int, Sequence[int]]] = None) -> ModelRun:
        """Adds a model (its spec already in the store) for ``epochs`` epochs.

        Args:
            run: The model's record (``spec_key``, ``io``, ``batch_size``, ``seed_key``...).
            epochs: Epochs to train; with ``resume``, counted from the start of training.
            start_epoch: The first epoch to train (a Hyperband trial's parent's epochs).
            resume: The model's ``log.json`` record from an interrupted run: it continues
                from its last committed sub-epoch, with the same visit order.
            cost_hint: The model's relative cost per sub-epoch (``BuiltModel.cost_hint``):
                ranks it (longest remaining first) until its first sub-epoch is measured.
            replay: Epoch -> TRAIN order the model follows (a logged ``visit_log``); on
                resume, the logged order of the epochs it has not finished.
        """
        if run.model_id in self.runs:
            raise ValueError(f"model id {run.model_id!r} is already in this search")
        start_epoch, epochs, ordinal, trained = run.plan(epochs, start_epoch, resume)
        if resume is not None:
            run.live_states = set(self.layout.states(run.model_id))
            if replay is None:  # the unfinished epoch goes on in the order it began
                replay = {e: o for e, o in run.visit_log.items() if e >= start_epoch}
        self.runs[run.model_id] = run
        self.scheduler.add_model(run.model_id, int(epochs), start_epoch=start_epoch,
                                 ordinal=ordinal, trained=trained, cost_hint=cost_hint,
                                 replay=replay)
        if self._running:  # new work goes to idle workers at once, before the next build
            self.dispatch()
        return run

    def extend(self, model_id: str, epochs: int) -> None:
        """Gives a model more epochs (also one that finished or was stopped)."""
        run = self.runs[model_id]
        run.status, run.reported, run.stop_reason = ModelStatus.RUNNING, False, ""
        if model_id in self.scheduler.models():
            self.scheduler.extend(model_id, epochs)
        else:
            self.scheduler.add_model(model_id, epochs, start_epoch=run.epochs_done)
        if self._running:
            self.dispatch()

    def stop_model(self, model_id: str, reason: str = "") -> None:
        """Takes a model out at its next sub-epoch boundary; its states are kept.

        Args:
            model_id: The model.
            reason: Why (kept in its ``log.json`` and shown with its STOPPED status).
        """
        run = self.runs[model_id]
        if run.status == ModelStatus.RUNNING:
            run.status, run.stop_reason = ModelStatus.STOPPED, reason
            self._stopped.add(model_id)  # reported once no visit of it is in flight
        if model_id in self.scheduler.models():
            self.scheduler.remove_model(model_id)

    def has_epochs_left(self, model_id: str) -> bool:
        """Whether the model still has epochs to train (False once its last one ended)."""
        return model_id in self.scheduler.models() and self.scheduler.is_active(model_id)

    @property
    def active_models(self) -> list[str]:
        return [m for m, r in self.runs.items() if r.status == ModelStatus.RUNNING]

    def in_flight(self, model_id: str) -> bool:
        return any(v.model_id == model_id for v, _ in self._inflight.values())

    # -- the loop --------------------------------------------------------------------------
    def run(self, controller: Controller) -> HopStats:
        """Runs until no model has work left and the controller adds none."""
        if self.supervisor.pool is None:
            self.supervisor.start_while(lambda: controller.refill(self),
                                        started=lambda: self.phases.mark("workers_ready"))
        self.scheduler.memory = self.supervisor.memory_plan(self.num_workers)
        self._hosts, self._cores = self.supervisor.cores(self.num_workers)
        self.stats.cores = sum(self._cores) if self._cores is not None else self.num_workers
        try:
            self._running = True
            controller.refill(self)
            while self._step(controller):
                pass
        except BaseException:
            self.supervisor.shutdown(graceful=False)  # Ctrl-C or a fatal error: stop now
            raise
        finally:
            self._running = False
        self.phases.mark("search_end")
        self.supervisor.shutdown()
        self.stats.wall_s = self.clock() - self._t0 if self._t0 is not None else 0.0
        return self.stats

    def _step(self, controller: Controller) -> bool:
        self.dispatch()
        if not self._inflight:
            controller.refill(self)
            self.dispatch()
        if not self._inflight and not self.scheduler.down_workers:
            if self.scheduler.has_work():
                raise RuntimeError("scheduler has work but assigned none")
            return False
        for worker, item in self.supervisor.wait():
            if isinstance(item, WorkerUp):
                self._worker_up(item)
            elif worker in self._inflight:
                self._on_result(worker, item, controller)
        self._report_stopped(controller)
        if self.commands is not None:
            commands_mod.apply_all(self, controller, self.commands())
        return True

    def _report_stopped(self, controller: Controller) -> None:
        """Reports the models stopped between their visits (say, while another model's
        epoch ended), which no visit result will report."""
        for model_id in sorted(self._stopped):
            run = self.runs[model_id]
            if run.reported or run.status != ModelStatus.STOPPED:
                self._stopped.discard(model_id)
            elif not self.in_flight(model_id):
                self._stopped.discard(model_id)
                self.finish_model(run, controller)

    def _worker_up(self, up: WorkerUp) -> None:
        self.scheduler.worker_up(up.worker)
        self._hosts[up.worker] = up.host or self._hosts[up.worker]
        if self._cores is not None and up.cores > 0:
            self._cores[up.worker] = up.cores
        if self.scheduler.memory is not None and up.rss_bytes:  # its idle memory, measured
            self.scheduler.memory.set_idle(up.worker, up.rss_bytes)

    def dispatch(self) -> None:
        """Hands a runnable visit to every idle worker.

        Each visit may use the cores of the workers left idle on its host (nothing runnable
        there): ``cerebro.mop.visit_threads``, decided now for this visit only.
        """
        memory = self.scheduler.memory
        visits = self.scheduler.assign()
        running = {w: v.model_id for w, v in self.scheduler.running.items()} \
            if visits and (memory is not None or self._cores is not None) else {}
        threads = {} if self._cores is None or not visits else visit_threads(
            [v.partition for v in visits], running, self.scheduler.idle_workers, self._hosts,
            self._cores)
        for visit in visits:
            run = self.runs[visit.model_id]
            task = run.visit_task(visit, self.layout, self.seed, memory.allowance(
                run.model_id, visit.partition, running) if memory is not None else None,
                threads.get(visit.partition))
            deadline = self.supervisor.liveness.deadline_s(run.longest, task.kind)
            self.supervisor.submit(visit.partition, task, deadline)
            now = self.clock()
            if self._t0 is None:
                self._t0 = now  # the search phase starts with the first visit sent
                self.phases.mark("first_visit")
                self.phases.log_once()
            self._inflight[visit.partition] = (visit, now)
            self.emit(VisitStarted(run.model_id, task.kind, visit.epoch, visit.partition,
                                   deadline, task.threads))

    def _on_result(self, worker: int, result: VisitResult, controller: Controller) -> None:
        visit, started = self._inflight.pop(worker)
        run = self.runs[visit.model_id]
        now = self.clock()
        self.phases.mark("first_result")
        t0 = self._t0 if self._t0 is not None else started
        self.stats.timeline.append((worker, run.model_id, visit.kind.value,
                                    started - t0, now - t0))
        if result.lost:
            self._on_lost(worker, visit, run, result, now - started, controller)
            return
        if not result.ok:
            self.scheduler.fail(visit)
            self.fail_model(run, result.error, FailReason.ERROR, controller)
            return
        self.stats.add(visit.kind.value, result)
        run.visit_done(visit, result, now - started, self.layout)
        if self.scheduler.memory is not None:
            self.scheduler.memory.observe(run.model_id, result.peak_rss_bytes)
        self.emit(VisitDone(run.model_id, visit.kind.value, visit.epoch, worker,
                            result.metrics, now - started, result.peak_rss_bytes,
                            result.threads, result.compute_s))
        epoch_ended = False
        for ev in self.scheduler.complete(visit, result.compute_s or now - started):
            if isinstance(ev, EpochDone):
                epoch_ended = True
                metrics = run.close_epoch(ev.epoch, self.objective)
                self._save(run)  # the log has the epoch before anyone acts on it
                self.emit(EpochEnd(run.model_id, ev.epoch, metrics, run.best_epoch,
                                   run.best_value))
                controller.on_epoch_end(self, run.model_id, ev.epoch, metrics)
            elif isinstance(ev, ModelDone) and run.status == ModelStatus.RUNNING:
                run.status = ModelStatus.DONE
        if run.status in (ModelStatus.DONE, ModelStatus.STOPPED) and not run.reported:
            self.finish_model(run, controller)
        elif visit.kind == VisitKind.TRAIN and not epoch_ended:
            self._save(run)

    def _on_lost(self, worker: int, visit: Visit, run: ModelRun, result: VisitResult,
                 seconds: float, controller: Controller) -> None:
        """The visit's worker died, hung or went over its memory: retry the visit from the
        model's last committed state, on a restarted worker; fail a model lost too often."""
        reason = result.lost_reason or LostReason.EXITED
        self.stats.lost += 1
        self.stats.redone_s += seconds
        self.scheduler.worker_down(worker)  # its visit is pending again
        run.losses[str(reason)] = run.losses.get(str(reason), 0) + 1
        if reason == LostReason.MEMORY and self.scheduler.memory is not None:
            self.scheduler.memory.lost(run.model_id, result.peak_rss_bytes)
        self.emit(VisitLost(run.model_id, visit.kind.value, visit.epoch, worker, reason,
                            result.error))
        self.supervisor.lost(worker, result, run.model_id)
        self.emit(WorkersRestarted(run.model_id, worker, self.supervisor.restarts))
        verdict = run.lost_verdict(result.error)
        if verdict is not None:
            self.fail_model(run, verdict[0], verdict[1], controller)

    # -- ends of a model ---------------------------------------------------------------------
    def finish_model(self, run: ModelRun, controller: Controller) -> None:
        """A model is done or stopped: keep its final and best states, report it."""
        run.reported = True
        self._save(run, finished=True)
        self.emit(ModelDoneEvent(run.model_id, run.status, run.best_epoch, run.best_value,
                                 run.result_state_key, run.stop_reason))
        controller.on_model_done(self, run.model_id)

    def fail_model(self, run: ModelRun, error: str, reason: FailReason,
                   controller: Controller) -> None:
        """Takes a model out for good; the search goes on with the freed capacity."""
        if run.model_id in self.scheduler.models():
            self.scheduler.remove_model(run.model_id)
        run.status, run.error, run.reported = ModelStatus.FAILED, error, True
        log.warning("model %s failed: %s", run.model_id, error.splitlines()[0] if error else "")
        self._save(run)
        self.emit(ModelFailed(run.model_id, error, reason))
        controller.on_model_failed(self, run.model_id, error, reason)

    def _save(self, run: ModelRun, finished: bool = False) -> None:
        """Writes the model's log, then drops the states it no longer needs."""
        self.layout.write_log(run.model_id, run.log_record(self.scheduler.ordinal(run.model_id)))
        if run.seq:
            run.live_states = self.layout.prune(run.model_id, run.live_states, run.seq,
                                                run.best_seq, finished)
