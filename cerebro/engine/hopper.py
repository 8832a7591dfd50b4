"""The model hopper: carries out the MOP scheduler's decisions on a worker pool.

This is where a model hops. The loop is event driven (no polling sleeps): it blocks until a
worker answers, feeds the answer to the scheduler, reports finished epochs to a controller
(a search, or the NAS bridge), and refills idle workers at once.

State moves through the store after every training sub-epoch (``runs/<id>/state-N.npz``,
written atomically by the worker). A small run log (``runs/<id>/log.json``) records the
history, the visit order of every epoch and the latest state, after every sub-epoch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from typing import Callable, Optional, Protocol

from cerebro._logging import get_logger
from cerebro.wire import ModelIO, VisitResult, VisitTask
from cerebro.mop import EpochDone, ModelDone, Scheduler, Visit, VisitKind

log = get_logger("engine")

RUNNING, DONE, STOPPED, FAILED = "RUNNING", "DONE", "STOPPED", "FAILED"


def visit_seed(seed: int, model_key: str, epoch: int, partition: int) -> int:
    """A seed fixed by (search seed, model, epoch, partition): independent of timing."""
    h = hashlib.blake2b(f"{seed}|{model_key}|{epoch}|{partition}".encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little") % (2**31 - 1)


@dataclasses.dataclass
class ModelRun:
    """The driver's record of one model: where its state is and what it has done."""

    model_id: str
    spec_key: str
    io: ModelIO
    batch_size: int
    state_key: Optional[str] = None
    seq: int = 0
    epochs_done: int = 0
    status: str = RUNNING
    error: str = ""
    history: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    visit_log: dict[int, list[int]] = dataclasses.field(default_factory=dict)
    fail_injection: Optional[str] = None
    seed_key: str = ""
    reported: bool = False
    _acc: dict[str, dict[str, list[float]]] = dataclasses.field(default_factory=dict)

    def accumulate(self, kind: str, result: VisitResult) -> None:
        acc = self._acc.setdefault(kind, {})
        for k, v in result.metrics.items():
            s = acc.setdefault(k, [0.0, 0.0])
            s[0] += v * result.samples
            s[1] += result.samples

    def close_epoch(self) -> dict[str, float]:
        """Sample-weighted means of this epoch's visits, as ``train_*`` and ``val_*``."""
        out = {}
        for kind, prefix in (("train", "train_"), ("eval", "val_")):
            for k, (s, n) in self._acc.get(kind, {}).items():
                out[prefix + k] = s / n if n else float("nan")
        self._acc = {}
        for k, v in out.items():
            self.history.setdefault(k, []).append(v)
        self.epochs_done += 1
        return out

    def log_record(self, ordinal: int) -> dict:
        """What ``runs/<id>/log.json`` holds: enough to resume the model after a crash."""
        return {"model_id": self.model_id, "status": self.status, "error": self.error,
                "epochs_done": self.epochs_done, "state_key": self.state_key, "seq": self.seq,
                "history": self.history, "ordinal": ordinal, "seed_key": self.seed_key,
                "partial_metrics": self._acc,
                "visit_log": {str(k): v for k, v in self.visit_log.items()}}

    def restore(self, record: dict) -> list[int]:
        """Takes back a ``log_record``; returns the partitions of the unfinished epoch."""
        self.state_key, self.seq = record["state_key"], int(record["seq"])
        self.epochs_done = int(record["epochs_done"])
        self.history = {k: list(v) for k, v in record["history"].items()}
        self.visit_log = {int(k): list(v) for k, v in record["visit_log"].items()}
        self.seed_key = record.get("seed_key") or self.model_id
        self._acc = {"train": record.get("partial_metrics", {}).get("train", {})}
        return self.visit_log.get(self.epochs_done, [])


class Controller(Protocol):
    """What drives a search: decides which models to add and reacts to their progress."""

    def refill(self, hopper: "ModelHopper") -> None:
        """Called whenever capacity may be free: add models with ``hopper.add_model``."""

    def on_epoch_end(self, hopper: "ModelHopper", model_id: str, epoch: int,
                     metrics: dict[str, float]) -> None:
        """An epoch finished; may call ``hopper.stop_model`` or ``hopper.extend``."""

    def on_model_done(self, hopper: "ModelHopper", model_id: str) -> None:
        """A model finished every epoch it was given (or was stopped)."""

    def on_model_failed(self, hopper: "ModelHopper", model_id: str, error: str) -> None:
        """A model's visit raised; the model is out of the search."""


@dataclasses.dataclass
class HopStats:
    """Where the workers' time went, for utilisation and hop-cost figures."""

    wall_s: float = 0.0
    compute_s: float = 0.0
    load_s: float = 0.0
    save_s: float = 0.0
    build_s: float = 0.0
    train_compute_s: float = 0.0
    visits: int = 0
    builds: int = 0
    timeline: list[tuple[int, str, str, float, float]] = dataclasses.field(default_factory=list)

    def utilisation(self, workers: int) -> float:
        return self.compute_s / (workers * self.wall_s) if self.wall_s else 0.0

    @property
    def busy_s(self) -> float:
        """Worker-seconds with a visit in flight, as the driver saw them."""
        return sum(end - start for _, _, _, start, end in self.timeline)

    def breakdown(self, workers: int) -> dict[str, float]:
        """Worker-seconds split into compute, load, save, build, other (messaging) and idle."""
        busy = self.busy_s
        return {"worker_s": workers * self.wall_s, "compute_s": self.compute_s,
                "load_s": self.load_s, "save_s": self.save_s, "build_s": self.build_s,
                "other_s": busy - self.compute_s - self.load_s - self.save_s - self.build_s,
                "idle_s": workers * self.wall_s - busy}

    @property
    def hop_overhead(self) -> float:
        return (self.load_s + self.save_s) / self.train_compute_s if self.train_compute_s else 0.0


class ModelHopper:
    """Runs models on a worker pool by model hopper parallelism."""

    def __init__(self, pool, store, seed: int = 0, strict_order: bool = True,
                 listener: Optional[Callable[[str, dict], None]] = None,
                 num_workers: Optional[int] = None, max_restarts: int = 3,
                 commands: Optional[Callable[[], list]] = None):
        """Args:
            pool: A started ``WorkerPool``, or a zero-argument callable that starts one. With a
                callable the hopper owns the pool: it starts it in ``run()``, restarts it when
                workers are lost (at most ``max_restarts`` times) and shuts it down at the end.
            store: The store models' specs and states live in.
            seed: Seeds the visit order and every visit's shuffle/dropout.
            strict_order: Scheduler mode (see ``cerebro.mop.Scheduler``).
            listener: ``(kind, payload)`` callback for progress and records.
            num_workers: Needed with a callable ``pool``.
            max_restarts: Worker-pool restarts allowed before the search gives up.
            commands: Optional source of human-in-the-loop commands, polled after each batch
                of worker results (see :meth:`apply_command`); each is a dict with
                ``action``, ``model_id``, ``params``, ``epochs`` and an optional
                ``ack(ok, message, model_id=None)`` callback.
        """
        self.listener = listener or (lambda kind, payload: None)
        self.commands = commands
        self._start_pool = None
        if callable(pool) and not hasattr(pool, "submit"):
            if num_workers is None:
                raise ValueError("num_workers is required when pool is a factory")
            self._start_pool, pool = pool, None
        self.pool = pool
        self.num_workers = num_workers if pool is None else pool.num_workers
        self.max_restarts = max_restarts
        self.restarts = 0
        self._lost_with: dict[str, int] = {}
        self.store = store
        self.seed = seed
        self.scheduler = Scheduler(self.num_workers, seed=seed, strict_order=strict_order)
        self.runs: dict[str, ModelRun] = {}
        self.stats = HopStats()
        self._inflight: dict[int, tuple[Visit, float]] = {}
        self._t0: Optional[float] = None
        self._running = False

    # -- what controllers call -------------------------------------------------------------
    def add_model(self, model_id: str, spec_key: str, io: ModelIO, batch_size: int,
                  epochs: int, init_state_key: Optional[str] = None, start_epoch: int = 0,
                  fail_injection: Optional[str] = None, seed_key: Optional[str] = None,
                  resume: Optional[dict] = None) -> ModelRun:
        """Adds a model whose ``.keras`` spec is at ``spec_key`` for ``epochs`` epochs.

        Args:
            seed_key: Seeds the model's visits (default: the model id); give a key that is
                the same in a rerun of the search (e.g. the model's index).
            resume: The model's ``log.json`` record from an interrupted run: it continues
                from its last committed sub-epoch, with the same visit order; ``epochs`` then
                counts from the start of training, not from the resume point.
        """
        if model_id in self.runs:
            raise ValueError(f"model id {model_id!r} is already in this search")
        run = ModelRun(model_id, spec_key, io, int(batch_size), state_key=init_state_key,
                       epochs_done=start_epoch, fail_injection=fail_injection,
                       seed_key=seed_key or model_id)
        trained: list[int] = []
        ordinal = None
        if resume is not None:
            trained = run.restore(resume)
            start_epoch, ordinal = run.epochs_done, resume.get("ordinal")
            epochs = int(epochs) - start_epoch
            if epochs < 1:
                raise ValueError(f"model {model_id!r} already trained {start_epoch} epochs")
        self.runs[model_id] = run
        self.scheduler.add_model(model_id, int(epochs), start_epoch=start_epoch, ordinal=ordinal,
                                 trained=trained)
        self.listener("model_added", {"model_id": model_id, "epochs": start_epoch + int(epochs)})
        self._work_added()
        return run

    def extend(self, model_id: str, epochs: int) -> None:
        """Gives a model more epochs (also one that finished or was stopped)."""
        run = self.runs[model_id]
        run.status, run.reported = RUNNING, False
        if model_id in self.scheduler.models():
            self.scheduler.extend(model_id, epochs)
        else:
            self.scheduler.add_model(model_id, epochs, start_epoch=run.epochs_done)
        self._work_added()

    def _work_added(self) -> None:
        """During ``run``, new work goes to idle workers at once: a controller adding several
        models (each a slow build) must not leave workers waiting until it is done."""
        if self._running:
            self.dispatch()

    def stop_model(self, model_id: str) -> None:
        """Takes a model out at its next sub-epoch boundary; its latest state is kept."""
        run = self.runs[model_id]
        if run.status == RUNNING:
            run.status = STOPPED
        if model_id in self.scheduler.models():
            self.scheduler.remove_model(model_id)

    def figures(self, wall_s: float) -> dict:
        """The engine's figures for a result: times, utilisation, hop overhead, restarts."""
        st = self.stats
        out = {"wall_s": wall_s, "start_s": getattr(self, "start_s", 0.0), "search_s": st.wall_s,
               "utilisation": st.utilisation(self.num_workers), "hop_overhead": st.hop_overhead,
               "visits": st.visits, "builds": st.builds, "restarts": self.restarts,
               "time_s": st.breakdown(self.num_workers)}
        return out

    @property
    def active_models(self) -> list[str]:
        return [m for m, r in self.runs.items() if r.status == RUNNING]

    # -- the loop --------------------------------------------------------------------------
    def run(self, controller: Controller) -> HopStats:
        """Runs until no model has work left and the controller adds none."""
        self._t0 = None  # the search phase starts with the first visit sent (dispatch)
        if self.pool is None:
            self._first_refill_while_workers_start(controller)
        try:
            self._running = True
            controller.refill(self)
            while True:
                self.dispatch()
                if not self._inflight:
                    controller.refill(self)
                    self.dispatch()
                    if not self._inflight:
                        if self.scheduler.has_work():
                            raise RuntimeError("scheduler has work but assigned none")
                        break
                for worker, result in self.pool.wait():
                    if worker in self._inflight:  # else: voided by a pool restart
                        self._on_result(worker, result, controller)
                if self.commands is not None:
                    self._apply_commands(controller)
        except BaseException:
            # Ctrl-C or a fatal error: stop the workers now rather than after their visit.
            if self._start_pool is not None and self.pool is not None:
                self.pool.shutdown(graceful=False)
            raise
        finally:
            self._running = False
        if self._start_pool is not None:
            self.pool.shutdown()
        self.stats.wall_s = time.monotonic() - self._t0 if self._t0 is not None else 0.0
        return self.stats

    def _first_refill_while_workers_start(self, controller: Controller) -> None:
        """Starts the workers in a thread while the controller builds its first models.

        Both take a while (Spark launching the workers and their shard loads; the driver
        building and serialising models) and neither needs the other. If the refill fails,
        the workers are shut down once they are up and its error is raised.
        """
        started: dict = {}

        def start() -> None:
            try:
                started["pool"] = self._start_pool()
            except BaseException as e:  # noqa: BLE001 - re-raised in the calling thread
                started["error"] = e

        starter = threading.Thread(target=start, name="cerebro-start-workers", daemon=True)
        starter.start()
        try:
            controller.refill(self)  # not running yet: models are added, nothing dispatched
        except BaseException:
            starter.join()
            if "pool" in started:
                started["pool"].shutdown(graceful=False)
            raise
        starter.join()
        if "error" in started:
            raise started["error"]
        self.pool = started["pool"]
        self.start_s = getattr(self.pool, "start_s", 0.0)

    def _recover(self, worker: int, visit: Visit, error: str) -> None:
        """A worker died: void every visit in flight, restart the pool, carry on.

        Nothing is lost but the interrupted sub-epochs: a model's state only advances when a
        visit's result arrives, so the retried visits start from the last committed state.
        A model that was in flight at two losses is failed instead (e.g. it gets the worker
        killed for memory), so one bad trial cannot end the whole search.
        """
        self.restarts += 1
        voided = [visit] + [v for v, _ in self._inflight.values()]
        self._inflight.clear()
        log.warning("worker %d lost (%s) while running %s; restarting the workers (%d/%d)",
                    worker, error, visit.model_id, self.restarts, self.max_restarts)
        if self._start_pool is None or self.restarts > self.max_restarts:
            raise RuntimeError(
                f"worker {worker} was lost ({error}) while running {visit.model_id}; "
                f"{self.restarts - 1} restart(s) already done, giving up")
        for v in voided:
            self.scheduler.fail(v)
        self.pool.shutdown(graceful=False)
        self.pool = self._start_pool()
        self.listener("workers_restarted", {"model_id": visit.model_id, "worker": worker,
                                            "restarts": self.restarts})
        self._lost_with[visit.model_id] = self._lost_with.get(visit.model_id, 0) + 1

    def dispatch(self) -> None:
        """Hands a runnable visit to every idle worker (controllers may call it before slow
        work, e.g. building the next trial, so workers do not wait on it)."""
        for visit in self.scheduler.assign():
            run = self.runs[visit.model_id]
            out_key = None
            if visit.kind == VisitKind.TRAIN:
                out_key = self.store.checkpoint_key(run.model_id, f"state-{run.seq + 1:06d}.npz")
            task = VisitTask(
                kind="train" if visit.kind == VisitKind.TRAIN else "eval",
                model_id=run.model_id, epoch=visit.epoch, partition=visit.partition,
                spec_key=run.spec_key, state_key=run.state_key, out_key=out_key,
                batch_size=run.batch_size,
                seed=visit_seed(self.seed, run.seed_key, visit.epoch, visit.partition),
                io=run.io, fail_injection=run.fail_injection,
            )
            self.pool.submit(visit.partition, task)
            now = time.monotonic()
            if self._t0 is None:
                self._t0 = now
            self._inflight[visit.partition] = (visit, now)
            self.listener("visit_started", {"model_id": run.model_id, "kind": task.kind,
                                            "epoch": visit.epoch, "partition": visit.partition,
                                            "deadline_s": None})

    def _on_result(self, worker: int, result: VisitResult, controller: Controller) -> None:
        visit, started = self._inflight.pop(worker)
        run = self.runs[visit.model_id]
        now = time.monotonic()
        self.stats.timeline.append((worker, run.model_id, visit.kind.value,
                                    started - self._t0, now - self._t0))
        if result.lost:
            self._recover(worker, visit, result.error)  # voids the visit, restarts the pool
            if self._lost_with.get(run.model_id, 0) >= 2:
                self._fail_model(run, f"the worker process died twice while running "
                                      f"{run.model_id} (killed for memory?)", controller)
            return
        if not result.ok:
            self.scheduler.fail(visit)
            self._fail_model(run, result.error, controller)
            return
        self.stats.visits += 1
        self.stats.builds += int(result.built)
        self.stats.compute_s += result.compute_s
        self.stats.load_s += result.load_s
        self.stats.save_s += result.save_s
        self.stats.build_s += result.build_s
        if visit.kind == VisitKind.TRAIN:
            self.stats.train_compute_s += result.compute_s
            run.seq += 1
            run.state_key = self.store.checkpoint_key(run.model_id, f"state-{run.seq:06d}.npz")
            run.visit_log.setdefault(visit.epoch, []).append(visit.partition)
            self._drop_old_state(run)
        run.accumulate("train" if visit.kind == VisitKind.TRAIN else "eval", result)
        self.listener("visit_done", {"model_id": run.model_id, "kind": visit.kind.value,
                                     "epoch": visit.epoch, "partition": worker,
                                     "metrics": result.metrics, "seconds": now - started})
        events = self.scheduler.complete(visit)
        for ev in events:
            if isinstance(ev, EpochDone):
                metrics = run.close_epoch()
                self._write_log(run)
                self.listener("epoch_end", {"model_id": run.model_id, "epoch": ev.epoch,
                                            "metrics": metrics})
                controller.on_epoch_end(self, run.model_id, ev.epoch, metrics)
            elif isinstance(ev, ModelDone) and run.status == RUNNING:
                run.status = DONE
        if not events and visit.kind == VisitKind.TRAIN:
            self._write_log(run)
        if run.status in (DONE, STOPPED) and not run.reported:
            run.reported = True
            self._write_log(run)
            if run.seq >= 2:  # a finished model keeps only its final state
                self.store.delete(self.store.checkpoint_key(run.model_id,
                                                            f"state-{run.seq - 1:06d}.npz"))
            self.listener("model_done", {"model_id": run.model_id, "status": run.status})
            controller.on_model_done(self, run.model_id)

    # -- human-in-the-loop commands ----------------------------------------------------------
    def _apply_commands(self, controller: Controller) -> None:
        """Applies the queued commands; a command that cannot apply is rejected, not raised."""
        for cmd in self.commands() or ():
            ack = cmd.get("ack") or (lambda ok, message, model_id=None: None)
            try:
                model_id, message = self.apply_command(controller, cmd["action"],
                                                       cmd.get("model_id"), cmd.get("params"),
                                                       cmd.get("epochs"))
            except Exception as e:  # noqa: BLE001 - a bad command must not end the search
                ack(False, f"{type(e).__name__}: {e}" if not isinstance(e, ValueError) else str(e))
                continue
            ack(True, message, model_id)

    def apply_command(self, controller: Controller, action: str, model_id: Optional[str] = None,
                      params: Optional[dict] = None,
                      epochs: Optional[int] = None) -> tuple[str, str]:
        """Stops, resumes or adds a model; it takes effect at the next sub-epoch boundary.

        ``stop`` takes a running model out (its latest state is kept); ``resume`` gives a
        stopped or finished model ``epochs`` more epochs; ``add`` hands ``params`` to the
        controller's ``add_manual(hopper, params) -> model_id``.

        Returns:
            The model id and a message for the person who asked.

        Raises:
            ValueError: When the command does not apply (unknown model, wrong state...).
        """
        if action == "add":
            add = getattr(controller, "add_manual", None)
            if add is None:
                raise ValueError(f"{type(controller).__name__} cannot add models by hand")
            new_id = add(self, dict(params or {}))
            return new_id, f"added {new_id} with {params}"
        run = self.runs.get(model_id or "")
        if run is None:
            raise ValueError(f"no model {model_id!r} in this search")
        in_flight = any(v.model_id == run.model_id for v, _ in self._inflight.values())
        if action == "stop":
            if run.status != RUNNING:
                raise ValueError(f"{run.model_id} is {run.status}, not running")
            self.stop_model(run.model_id)
            if not in_flight:  # no visit result will come to report it, so report it now
                run.reported = True
                self._write_log(run)
                self.listener("model_done", {"model_id": run.model_id, "status": run.status})
                controller.on_model_done(self, run.model_id)
            return run.model_id, f"{run.model_id} stopped after {run.epochs_done} epoch(s)"
        if action == "resume":
            if run.status not in (STOPPED, DONE) or in_flight:
                raise ValueError(f"{run.model_id} is {run.status}"
                                 f"{' and finishing a visit' if in_flight else ''}; "
                                 "only a stopped or finished model can resume")
            if not epochs or int(epochs) < 1:
                raise ValueError(f"{run.model_id} has no epochs left; say how many to add")
            run._acc = {}  # drop the partial sums of an epoch the stop cut short
            self.extend(run.model_id, int(epochs))
            self.listener("model_resumed", {"model_id": run.model_id,
                                            "epochs": run.epochs_done + int(epochs)})
            return run.model_id, f"{run.model_id} resumes for {int(epochs)} epoch(s)"
        raise ValueError(f"unknown action {action!r}")

    def _fail_model(self, run: ModelRun, error: str, controller: Controller) -> None:
        """Takes a model out for good; the search goes on with the freed capacity."""
        self.stop_model(run.model_id)
        run.status, run.error, run.reported = FAILED, error, True
        log.warning("model %s failed: %s", run.model_id, error.splitlines()[0] if error else "")
        self._write_log(run)
        self.listener("model_failed", {"model_id": run.model_id, "error": error})
        controller.on_model_failed(self, run.model_id, error)

    def _drop_old_state(self, run: ModelRun) -> None:
        """Keeps the newest two states of a model (the log may still name the older)."""
        if run.seq >= 3:
            self.store.delete(self.store.checkpoint_key(run.model_id, f"state-{run.seq - 2:06d}.npz"))

    def _write_log(self, run: ModelRun) -> None:
        record = run.log_record(self.scheduler.ordinal(run.model_id))
        self.store.write_json(self.store.checkpoint_key(run.model_id, "log.json"), record)
