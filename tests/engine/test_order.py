"""Visit order on the in-process pool: longest remaining first, and replaying a logged order."""

from __future__ import annotations

import dataclasses

from cerebro.backend.scripted import Outcome
from cerebro.engine import ModelRun
from cerebro.wire import VisitStarted

from .conftest import IO, Plan

SUB_EPOCH = {"long": 5.0, "a": 1.0, "b": 1.0, "c": 1.0}


def timed(worker, task):
    """Each model's sub-epoch takes its own time; an evaluation a quarter of it."""
    t = SUB_EPOCH[task.model_id]
    return Outcome(seconds=t if task.kind == "train" else t / 4)


@dataclasses.dataclass
class Hinted(Plan):
    """Adds its models with cost hints (or a replayed order), as the search runner does."""

    hints: dict[str, float] = dataclasses.field(default_factory=dict)
    replay: dict[str, dict[int, list[int]]] = dataclasses.field(default_factory=dict)

    def refill(self, hopper) -> None:
        while self.models and len(hopper.active_models) < self.parallelism:
            model_id, epochs = self.models.pop(0)
            run = ModelRun(model_id, hopper.layout.spec_key(model_id), IO, batch_size=8,
                           seed_key=model_id)
            hopper.add_model(run, epochs, cost_hint=self.hints.get(model_id),
                             replay=self.replay.get(model_id))


def test_the_longest_model_starts_first_and_is_first_choice(engine):
    e = engine(num_workers=2, script=timed, strict_order=False)
    models = [("a", 2), ("b", 2), ("c", 2), ("long", 2)]  # the long one comes last
    plan = Hinted(list(models), parallelism=4, hints={"a": 1e5, "b": 1e5, "c": 1e5, "long": 5e5})
    stats = e.hopper.run(plan)
    first = e.kinds(VisitStarted)[0]
    assert first.model_id == "long" and first.partition == 0  # its hint ranks it first
    # Whenever a worker frees where the long model may go, it goes there: its chain of
    # 2 x (2 x 5 s + 2 x 1.25 s) = 25 s waits at most one short visit (1 s) per hop.
    end = max(end for _, m, _, _, end in stats.timeline if m == "long")
    assert end <= 25.0 + 7 * 1.0
    chain = [(s, t) for _, m, _, s, t in sorted(stats.timeline, key=lambda r: r[3])
             if m == "long"]
    waits = [b[0] - a[1] for a, b in zip(chain, chain[1:])]
    assert max(waits) <= 1.0 + 1e-9, waits
    # Lock-step (no estimates) gives the long model no precedence: it ends later.
    e2 = engine(num_workers=2, script=timed, strict_order=False, store_dir="lockstep")
    e2.hopper.scheduler.complete = _without_seconds(e2.hopper.scheduler.complete)
    stats2 = e2.hopper.run(Plan(list(models), parallelism=4))
    end2 = max(end for _, m, _, _, end in stats2.timeline if m == "long")
    assert end < end2, (end, end2)
    print(f"\nlong model ends {end:.2f} s (lock-step {end2:.2f} s); "
          f"makespan {stats.wall_s:.2f} vs {stats2.wall_s:.2f}")
    assert stats.wall_s < stats2.wall_s


def _without_seconds(complete):
    return lambda visit, seconds=None: complete(visit)


def test_a_logged_order_replays_whatever_the_timing(engine):
    models = [("a", 2), ("b", 2), ("c", 2), ("long", 2)]
    e = engine(num_workers=3, script=timed, strict_order=False)
    e.hopper.run(Plan(list(models), parallelism=4))
    logged = {m: e.layout.read_log(m)["visit_log"] for m, _ in models}
    for m, log in logged.items():  # the order actually taken, every partition once
        assert all(sorted(parts) == [0, 1, 2] for parts in log.values()), (m, log)
    assert logged == {m: {str(k): v for k, v in e.hopper.scheduler.visit_log(m).items()}
                      for m, _ in models}

    def other_timing(worker, task):  # the long model is now the short one
        t = 6.0 - SUB_EPOCH[task.model_id]
        return Outcome(seconds=t if task.kind == "train" else t / 4)

    replay = {m: {int(k): v for k, v in log.items()} for m, log in logged.items()}
    free = engine(num_workers=3, script=other_timing, strict_order=False, store_dir="free")
    free.hopper.run(Plan(list(models), parallelism=4))
    assert {m: free.layout.read_log(m)["visit_log"] for m, _ in models} != logged
    again = engine(num_workers=3, script=other_timing, strict_order=False, store_dir="again")
    again.hopper.run(Hinted(list(models), parallelism=4, replay=replay))
    assert {m: again.layout.read_log(m)["visit_log"] for m, _ in models} == logged
    seeds = {(t.model_id, t.epoch, t.partition, t.seed) for _, t in e.pool.tasks}
    assert {(t.model_id, t.epoch, t.partition, t.seed) for _, t in again.pool.tasks} == seeds
