"""An engine harness on the in-process ``ScriptedPool``: no Spark, no Keras, virtual time."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, TypeVar

import pytest

from cerebro.backend.scripted import Outcome, ScriptedPool
from cerebro.engine import LivenessPolicy, ModelHopper, ModelRun, Objective, PoolSupervisor
from cerebro.storage import LocalStore
from cerebro.storage.layout import RunLayout
from cerebro.wire import Event, ModelIO

E = TypeVar("E", bound=Event)

IO = ModelIO(("x",), ("y",), ((1,),), ((1,),))


@dataclasses.dataclass
class Plan:
    """A controller that adds the models it is given, ``parallelism`` at a time."""

    models: list[tuple[str, int]]
    parallelism: int = 2
    done: list[str] = dataclasses.field(default_factory=list)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)
    epochs: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    stop_after: dict[str, int] = dataclasses.field(default_factory=dict)  # model -> epochs
    added_by_hand: list[str] = dataclasses.field(default_factory=list)

    def refill(self, hopper: ModelHopper) -> None:
        while self.models and len(hopper.active_models) < self.parallelism:
            model_id, epochs = self.models.pop(0)
            add(hopper, model_id, epochs)

    def on_epoch_end(self, hopper, model_id, epoch, metrics) -> None:
        self.epochs.append((model_id, epoch))
        if self.stop_after.get(model_id) == epoch + 1:
            hopper.stop_model(model_id)

    def on_model_done(self, hopper, model_id) -> None:
        self.done.append(model_id)
        self.refill(hopper)

    def on_model_failed(self, hopper, model_id, error, reason) -> None:
        self.failed[model_id] = reason
        self.refill(hopper)

    def add_manual(self, hopper, params) -> str:
        model_id = f"manual_{len(self.added_by_hand)}"
        self.added_by_hand.append(model_id)
        add(hopper, model_id, int(params.get("epochs", 1)))
        return model_id


def add(hopper: ModelHopper, model_id: str, epochs: int,
        resume: Optional[dict[str, Any]] = None) -> ModelRun:
    run = ModelRun(model_id, hopper.layout.spec_key(model_id), IO, batch_size=8,
                   seed_key=model_id)
    return hopper.add_model(run, epochs, resume=resume)


@dataclasses.dataclass
class Engine:
    pool: ScriptedPool
    hopper: ModelHopper
    supervisor: PoolSupervisor
    layout: RunLayout
    events: list[Event]

    def kinds(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
def engine(tmp_path):
    """``engine(num_workers, script=..., **supervisor/pool options)`` -> ``Engine``."""

    def make(num_workers: int = 2, script=None, liveness: Optional[LivenessPolicy] = None,
             max_restarts: int = 10, commands=None, store_dir: str = "store",
             strict_order: bool = True, **pool_kw) -> Engine:
        store = LocalStore(str(tmp_path / store_dir))
        pool = ScriptedPool(num_workers, script, store=store, **pool_kw)
        supervisor = PoolSupervisor(lambda: pool, liveness or LivenessPolicy(floor_s=5.0),
                                    max_restarts=max_restarts, clock=pool.clock)
        layout = RunLayout(store, "proj")
        events: list[Event] = []
        hopper = ModelHopper(supervisor, layout, Objective("val_loss", "min"), num_workers,
                             seed=3, strict_order=strict_order, emit=events.append,
                             commands=commands)
        return Engine(pool, hopper, supervisor, layout, events)

    return make


def lose_once(match, reason=None, hang: bool = False):
    """A script that loses (or hangs) the first visit ``match(task)`` accepts, once."""
    from cerebro.wire import LostReason

    state = {"done": False}

    def script(worker, task):
        if not state["done"] and match(task):
            state["done"] = True
            return Outcome(seconds=2.0, hang=hang,
                           lost=None if hang else (reason or LostReason.EXITED))
        return Outcome()

    return script
