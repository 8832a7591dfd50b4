"""Tests of the MOP scheduler: hypothesis properties plus plain unit tests."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from cerebro.mop import (
    EpochDone,
    ModelDone,
    Scheduler,
    SchedulerError,
    Visit,
    VisitKind,
)

from .sim import simulate, simulate_measured

TRAIN, EVAL = VisitKind.TRAIN, VisitKind.EVAL


def expected_order(
    num_partitions: int, seed: int, epoch: int, ordinal: int
) -> list[int]:
    """The documented strict order, written independently of the scheduler."""
    base = list(range(num_partitions))
    random.Random(f"{seed}:{epoch}").shuffle(base)
    return [base[(ordinal + j) % num_partitions] for j in range(num_partitions)]


def drain(s: Scheduler, rng: random.Random | None = None) -> list:
    """Brings all workers up and runs everything; returns all events."""
    for w in range(s.num_partitions):
        s.worker_up(w)
    events = []
    while s.has_work():
        s.assign()
        running = list(s.running.values())
        assert running, "stalled with work left and all workers up"
        v = rng.choice(running) if rng else running[0]
        events.extend(s.complete(v))
    return events


# --------------------------------------------------------------------------
# Reference model for the stateful test: derived from logs of completed visits.
# --------------------------------------------------------------------------
@dataclass
class Ref:
    ordinal: int
    start: int
    end: int
    removed: bool = False  # removal requested
    replay: dict[int, list[int]] = field(default_factory=dict)
    train: dict[int, list[int]] = field(default_factory=dict)
    evals: dict[int, list[int]] = field(default_factory=dict)


class SchedulerMachine(RuleBasedStateMachine):
    @initialize(
        p=st.integers(1, 4),
        seed=st.integers(0, 3),
        strict=st.booleans(),
        evaluate=st.booleans(),
    )
    def setup(self, p: int, seed: int, strict: bool, evaluate: bool) -> None:
        self.p, self.seed, self.strict, self.evaluate = p, seed, strict, evaluate
        self.s = Scheduler(p, seed=seed, strict_order=strict, evaluate=evaluate)
        self.refs: dict[str, Ref] = {}
        self.running: dict[int, Visit] = {}
        self.down: set[int] = set()
        self.added = 0

    # ---------------------------------------------------------------- oracle
    def position(self, r: Ref) -> tuple[int, VisitKind, list[int]]:
        e = r.start
        while e < r.end:
            t = r.train.get(e, [])
            if len(t) < self.p:
                return e, TRAIN, t
            v = r.evals.get(e, [])
            if self.evaluate and len(v) < self.p:
                return e, EVAL, v
            e += 1
        return e, TRAIN, []

    def finished(self, r: Ref) -> bool:
        return self.position(r)[0] >= r.end

    def live(self) -> dict[str, Ref]:
        return {i: r for i, r in self.refs.items() if not r.removed}

    def plan(self, r: Ref, e: int) -> list[int] | None:
        """The pinned TRAIN order of epoch ``e``: strict, replayed, or none."""
        rep = r.replay.get(e)
        if self.strict:
            base = expected_order(self.p, self.seed, e, r.ordinal)
            return rep + [w for w in base if w not in rep] if rep else base
        return list(rep) if rep else None

    def runnable(self, mid: str, w: int) -> VisitKind | None:
        r = self.refs[mid]
        if (
            r.removed
            or self.finished(r)
            or any(v.model_id == mid for v in self.running.values())
        ):
            return None
        e, kind, done = self.position(r)
        plan = self.plan(r, e) if kind is TRAIN else None
        if plan is not None and len(done) < len(plan):
            return kind if plan[len(done)] == w else None
        return kind if w not in done else None

    # ----------------------------------------------------------------- rules
    @rule(
        epochs=st.integers(1, 3),
        start=st.sampled_from([0, 0, 0, 1, 2]),
        ordinal=st.none() | st.integers(0, 5),
        readd=st.booleans(),
        hint=st.none() | st.floats(0.1, 100.0),
        replay=st.none() | st.randoms(use_true_random=False),
    )
    def add_model(
        self, epochs: int, start: int, ordinal: int | None, readd: bool,
        hint: float | None, replay: random.Random | None,
    ) -> None:
        gone = [
            i for i, r in self.refs.items() if r.removed and i not in self.s._models
        ]
        mid = gone[0] if readd and gone else f"m{len(self.refs)}"
        orders: dict[int, list[int]] = {}
        for e in range(start, start + epochs + 1) if replay else ():
            order = replay.sample(range(self.p), self.p)
            orders[e] = order[: replay.randint(0, self.p)]  # a whole order or a prefix
        self.s.add_model(mid, epochs, start_epoch=start, ordinal=ordinal, cost_hint=hint,
                         replay=orders)
        k = self.added if ordinal is None else ordinal
        self.added += 1
        old = self.refs.get(mid)
        r = Ref(k, start, start + epochs, replay=orders)
        if old is not None:
            r.train = {e: p for e, p in old.train.items() if e < start}
            r.evals = {e: p for e, p in old.evals.items() if e < start}
        self.refs[mid] = r

    @rule()
    def assign(self) -> None:
        idle = [
            w for w in range(self.p) if w not in self.running and w not in self.down
        ]
        before = {(mid, w): self.runnable(mid, w) for mid in self.refs for w in idle}
        rank = {mid: self.s.remaining_s(mid) for mid, r in self.live().items()
                if not self.finished(r)}
        new = self.s.assign()
        assert [v.partition for v in new] == sorted(v.partition for v in new)
        for v in new:
            assert v.partition in idle
            assert before[(v.model_id, v.partition)] is v.kind
            assert v.epoch == self.position(self.refs[v.model_id])[0]
            self.running[v.partition] = v
        # work-conserving: longest remaining first. A model still waiting that could have
        # taken a worker has no more work left than the model that took it (bar local EVALs);
        # shortest first: no less.
        busy = {v.model_id for v in self.running.values()}
        sign = -1.0 if self.s.shortest_first else 1.0
        for v in new if not self.strict else ():
            if v.kind is EVAL and self.refs[v.model_id].train[v.epoch][-1] == v.partition:
                continue
            for mid in rank:
                if mid not in busy and before.get((mid, v.partition)) is not None:
                    assert sign * rank[mid] <= sign * rank[v.model_id] + 1e-9, (mid, v, rank)
        # work conservation
        for w in self.s.idle_workers:
            for mid in self.refs:
                assert self.runnable(mid, w) is None, (mid, w)

    @precondition(lambda self: self.running)
    @rule(i=st.integers(0, 63), seconds=st.none() | st.floats(0.01, 10.0))
    def complete(self, i: int, seconds: float | None = None) -> None:
        v = self.running.pop(sorted(self.running)[i % len(self.running)])
        r = self.refs[v.model_id]
        events = self.s.complete(v, seconds)
        if r.removed:
            assert events == []
            return
        e0 = self.position(r)[0]
        (r.train if v.kind is TRAIN else r.evals).setdefault(v.epoch, []).append(
            v.partition
        )
        e1 = self.position(r)[0]
        expected: list = []
        if e1 > e0:
            expected.append(EpochDone(v.model_id, e0))
            if e1 >= r.end:
                expected.append(ModelDone(v.model_id, r.end))
        assert events == expected
        with pytest.raises(SchedulerError):
            self.s.complete(v)

    @rule(i=st.integers(0, 63), seconds=st.none() | st.floats(0.01, 10.0))
    def assign_and_complete(self, i: int, seconds: float | None) -> None:
        """Advances the run faster than single rules would."""
        self.assign()
        if self.running:
            self.complete(i, seconds)

    @precondition(lambda self: self.running)
    @rule(i=st.integers(0, 63))
    def fail(self, i: int) -> None:
        v = self.running.pop(sorted(self.running)[i % len(self.running)])
        self.s.fail(v)
        with pytest.raises(SchedulerError):
            self.s.fail(v)

    @precondition(lambda self: self.live())
    @rule(i=st.integers(0, 63))
    def remove(self, i: int) -> None:
        live = sorted(self.live())
        mid = live[i % len(live)]
        self.s.remove_model(mid)
        self.refs[mid].removed = True
        with pytest.raises(SchedulerError):
            self.s.remove_model(mid)

    @precondition(lambda self: self.live())
    @rule(i=st.integers(0, 63), epochs=st.integers(1, 2))
    def extend(self, i: int, epochs: int) -> None:
        live = sorted(self.live())
        mid = live[i % len(live)]
        self.s.extend(mid, epochs)
        self.refs[mid].end += epochs

    @rule(flag=st.booleans())
    def shortest_first(self, flag: bool) -> None:
        """The tuner starts or stops proposing: the order flips, the invariants hold."""
        self.s.shortest_first = flag
        assert self.s.shortest_first is flag

    @rule(w=st.integers(0, 3))
    def worker_down(self, w: int) -> None:
        w %= self.p
        assert self.s.worker_down(w) == self.running.pop(w, None)
        self.down.add(w)

    @rule(w=st.integers(0, 3))
    def worker_up(self, w: int) -> None:
        w %= self.p
        self.s.worker_up(w)
        self.down.discard(w)

    @rule()
    def misuse(self) -> None:
        with pytest.raises(SchedulerError):
            self.s.complete(Visit("nope", 0, 0, TRAIN))
        with pytest.raises(SchedulerError):
            self.s.add_model("nope", 0)
        if self.live():
            with pytest.raises(SchedulerError):
                self.s.add_model(min(self.live()), 1)

    # ------------------------------------------------------------ invariants
    @invariant()
    def consistent(self) -> None:
        if not hasattr(self, "s"):
            return
        s = self.s
        running = s.running
        assert running == self.running
        # a worker runs one visit (dict) on its own partition; a model on one worker
        assert all(w == v.partition for w, v in running.items())
        assert len({v.model_id for v in running.values()}) == len(running)
        assert not set(running) & self.down
        assert s.idle_workers == [
            w for w in range(self.p) if w not in running and w not in self.down
        ]
        assert s.models() == [i for i in self.s._models if not self.refs[i].removed]
        assert sorted(s.models()) == sorted(self.live())
        for mid, r in self.refs.items():
            assert s.visit_log(mid) == dict(sorted(r.train.items()))
            assert s.eval_log(mid) == dict(sorted(r.evals.items()))
            # exactly-once so far: no partition twice in a phase, nor running again
            for log in (r.train, r.evals):
                for parts in log.values():
                    assert len(parts) == len(set(parts))
            for v in running.values():
                if v.model_id == mid:
                    done = (r.train if v.kind is TRAIN else r.evals).get(v.epoch, [])
                    assert v.partition not in done
                    plan = self.plan(r, v.epoch) if v.kind is TRAIN else None
                    if plan is not None and len(done) < len(plan):
                        assert plan[len(done)] == v.partition
            for e, parts in r.train.items():
                plan = self.plan(r, e)
                if e >= r.start and plan is not None:
                    n = min(len(parts), len(plan))
                    assert parts[:n] == plan[:n]
            if not r.removed:
                e, kind, done = self.position(r)
                assert s.progress(mid) == (e, kind, len(done))
                assert s.is_active(mid) == (not self.finished(r))
                assert s.train_order(mid, e) == expected_order(
                    self.p, self.seed, e, r.ordinal
                )
            else:
                assert not s.is_active(mid)
        assert s.has_work() == (
            bool(running) or any(not self.finished(r) for r in self.live().values())
        )

    def teardown(self) -> None:
        if not hasattr(self, "s"):
            return
        drain(self.s)
        for mid, r in self.live().items():
            for e in range(r.start, r.end):
                assert sorted(self.s.visit_log(mid)[e]) == list(range(self.p))
                if self.strict and not r.replay:
                    assert self.s.visit_log(mid)[e] == self.s.train_order(mid, e)
                plan = self.plan(r, e) or []
                assert self.s.visit_log(mid)[e][: len(plan)] == plan
                if self.evaluate:
                    assert sorted(self.s.eval_log(mid)[e]) == list(range(self.p))
                else:
                    assert e not in self.s.eval_log(mid)


TestSchedulerMachine = SchedulerMachine.TestCase
TestSchedulerMachine.settings = settings(
    max_examples=300,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# --------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------
def run_script(seed: int, script_seed: int, strict: bool = True) -> tuple[list, dict]:
    """Applies a random but replayable sequence of API calls."""
    rng = random.Random(script_seed)
    s = Scheduler(3, seed=seed, strict_order=strict)
    assigned: list = []
    n = 0
    for _ in range(150):
        op = rng.random()
        running = sorted(s.running)
        if op < 0.1 or not s.models():
            s.add_model(f"m{n}", rng.randint(1, 3))
            n += 1
        elif op < 0.75 and running:
            s.complete(s.running[rng.choice(running)])
        elif op < 0.8 and running:
            s.fail(s.running[rng.choice(running)])
        elif op < 0.85:
            s.remove_model(rng.choice(s.models()))
        elif op < 0.9:
            s.worker_down(rng.randrange(3))
        elif op < 0.95:
            s.worker_up(rng.randrange(3))
        else:
            s.extend(rng.choice(s.models()), 1)
        assigned.append(s.assign())
    drain(s, rng)
    logs = {f"m{i}": (s.visit_log(f"m{i}"), s.eval_log(f"m{i}")) for i in range(n)}
    return assigned, logs


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10**6), script_seed=st.integers(0, 10**6), strict=st.booleans()
)
def test_determinism_same_seed_same_script(
    seed: int, script_seed: int, strict: bool
) -> None:
    assert run_script(seed, script_seed, strict) == run_script(
        seed, script_seed, strict
    )


def test_different_seeds_give_different_orders() -> None:
    a, b = Scheduler(4, seed=0), Scheduler(4, seed=1)
    a.add_model("m", 1)
    b.add_model("m", 1)
    assert any(a.train_order("m", e) != b.train_order("m", e) for e in range(5))
    c = Scheduler(4, seed=0)
    c.add_model("m", 1)
    assert all(a.train_order("m", e) == c.train_order("m", e) for e in range(5))


def test_train_order_is_rotation_by_ordinal() -> None:
    s = Scheduler(5, seed=7)
    for i in range(7):
        s.add_model(f"m{i}", 1)
    s.add_model("x", 1, ordinal=2)
    base = s.train_order("m0", 3)
    assert sorted(base) == list(range(5))
    for k in range(7):
        assert s.train_order(f"m{k}", 3) == [base[(k + j) % 5] for j in range(5)]
    assert s.train_order("x", 3) == s.train_order("m2", 3)
    assert base == expected_order(5, 7, 3, 0)


# --------------------------------------------------------------------------
# Strict order regardless of completion order
# --------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    p=st.integers(1, 5),
    models=st.integers(1, 6),
    epochs=st.integers(1, 3),
    evaluate=st.booleans(),
    seed=st.integers(0, 100),
    rnd=st.randoms(use_true_random=False),
)
def test_strict_order_independent_of_timing(
    p: int, models: int, epochs: int, evaluate: bool, seed: int, rnd: random.Random
) -> None:
    s = Scheduler(p, seed=seed, evaluate=evaluate)
    for i in range(models):
        s.add_model(f"m{i}", epochs)
    events = drain(s, rnd)
    for i in range(models):
        log = s.visit_log(f"m{i}")
        assert list(log) == list(range(epochs))
        for e, parts in log.items():
            assert parts == s.train_order(f"m{i}", e)
    assert sum(isinstance(ev, EpochDone) for ev in events) == models * epochs
    assert sorted(ev.model_id for ev in events if isinstance(ev, ModelDone)) == sorted(
        f"m{i}" for i in range(models)
    )


# --------------------------------------------------------------------------
# Plain unit tests
# --------------------------------------------------------------------------
def test_single_model_full_cycle_and_events() -> None:
    s = Scheduler(2, seed=3)
    s.add_model("a", 1)
    order = s.train_order("a", 0)
    (v,) = s.assign()
    assert v == Visit("a", order[0], 0, TRAIN)
    assert s.assign() == []  # model is busy: the other worker stays idle
    assert s.complete(v) == []
    (v,) = s.assign()
    assert v.partition == order[1]
    assert s.complete(v) == []
    assert s.progress("a") == (0, EVAL, 0)
    # EVAL is unordered: with both workers idle the lowest one is served first.
    (v,) = s.assign()
    assert v.kind is EVAL and v.partition == 0
    assert s.complete(v) == []
    (v,) = s.assign()
    assert s.complete(v) == [EpochDone("a", 0), ModelDone("a", 1)]
    assert not s.has_work() and not s.is_active("a")
    assert s.progress("a") == (1, TRAIN, 0)
    s.extend("a", 2)
    assert s.is_active("a")
    events = drain(s)
    assert events[-1] == ModelDone("a", 3)
    assert list(s.visit_log("a")) == [0, 1, 2]


def test_local_eval_preference() -> None:
    s = Scheduler(2, strict_order=False)
    s.add_model("a", 1)
    s.add_model("b", 1)
    assert s.assign() == [Visit("a", 0, 0, TRAIN), Visit("b", 1, 0, TRAIN)]
    for v in list(s.running.values()):
        s.complete(v)
    assert s.assign() == [Visit("b", 0, 0, TRAIN), Visit("a", 1, 0, TRAIN)]
    for v in list(s.running.values()):
        s.complete(v)
    # a last trained on 1, b on 0: each evaluates where its state sits.
    assert s.assign() == [Visit("b", 0, 0, EVAL), Visit("a", 1, 0, EVAL)]


def test_no_evaluate() -> None:
    s = Scheduler(3, evaluate=False)
    s.add_model("a", 2, start_epoch=4)
    events = drain(s)
    assert events == [EpochDone("a", 4), EpochDone("a", 5), ModelDone("a", 6)]
    assert s.eval_log("a") == {}
    assert list(s.visit_log("a")) == [4, 5]


def test_remove_running_and_idle() -> None:
    s = Scheduler(2)
    s.add_model("a", 1)
    s.add_model("b", 1)
    s.add_model("c", 1)
    running = s.assign()
    busy = {v.model_id for v in running}
    idle_model = ({"a", "b", "c"} - busy).pop()
    s.remove_model(idle_model)
    assert idle_model not in s.models()
    v = running[0]
    s.remove_model(v.model_id)
    assert v.model_id not in s.models()
    with pytest.raises(SchedulerError):
        s.add_model(v.model_id, 1)  # still running its last visit
    assert s.complete(v) == []
    assert s.visit_log(v.model_id) == {}
    assert v.partition in s.idle_workers
    s.add_model(v.model_id, 1)  # id can be reused after removal finished
    drain(s)


def test_worker_down_requeues_strict_visit() -> None:
    s = Scheduler(2, seed=1)
    s.add_model("a", 1)
    (v,) = s.assign()
    assert s.worker_down(v.partition) == v
    assert s.worker_down(v.partition) is None  # idempotent
    assert s.running == {}
    assert s.assign() == []  # strict: only that partition may come next
    assert s.has_work()
    s.worker_up(v.partition)
    assert s.assign() == [v]


def test_fail_requeues() -> None:
    s = Scheduler(3, strict_order=False)
    s.add_model("a", 1)
    (v,) = s.assign()
    s.fail(v)
    assert s.progress("a") == (0, TRAIN, 0)
    assert s.assign() == [v]


def test_misuse_raises() -> None:
    s = Scheduler(2)
    s.add_model("a", 1)
    with pytest.raises(SchedulerError, match="'a'"):
        s.add_model("a", 1)
    with pytest.raises(SchedulerError, match="'zz'"):
        s.remove_model("zz")
    with pytest.raises(SchedulerError, match="'zz'"):
        s.visit_log("zz")
    with pytest.raises(SchedulerError):
        s.extend("a", 0)
    with pytest.raises(SchedulerError):
        s.add_model("b", 1, start_epoch=-1)
    with pytest.raises(SchedulerError):
        s.worker_down(2)
    with pytest.raises(SchedulerError):
        Scheduler(0)
    (v,) = s.assign()
    with pytest.raises(SchedulerError, match="not running"):
        s.complete(Visit("a", 1 - v.partition, 0, TRAIN))
    s.remove_model("a")
    with pytest.raises(SchedulerError, match="removed"):
        s.progress("a")
    with pytest.raises(SchedulerError, match="removed"):
        s.extend("a", 1)


def test_module_is_pure() -> None:
    import cerebro.mop.scheduler as mod

    src = Path(mod.__file__).read_text()
    for banned in ("pyspark", "keras", "numpy", "torch"):
        assert f"import {banned}" not in src and f"from {banned}" not in src


# --------------------------------------------------------------------------
# Simulated utilisation
# --------------------------------------------------------------------------
@pytest.mark.parametrize("strict", [True, False])
def test_simulated_utilisation(strict: bool) -> None:
    utils = []
    for sim_seed in range(5):
        s = Scheduler(2, seed=sim_seed, strict_order=strict)
        for i in range(8):
            s.add_model(f"m{i}", 3)
        res = simulate(s, sim_seed)
        assert sum(isinstance(e, ModelDone) for e in res.events) == 8
        utils.append(res.utilisation)
    mean = sum(utils) / len(utils)
    print(f"\nutilisation strict={strict}: min={min(utils):.3f} mean={mean:.3f}")
    assert min(utils) >= 0.9


def test_resume_mid_epoch_continues_the_planned_order():
    """A model resumed with the partitions it already trained finishes that epoch exactly."""
    from cerebro.mop import EpochDone, Scheduler, SchedulerError, VisitKind

    full = Scheduler(3, seed=5)
    full.add_model("m", epochs=1, ordinal=2)
    plan = full.train_order("m", 0)

    s = Scheduler(3, seed=5)
    s.add_model("m", epochs=1, ordinal=2, trained=plan[:2])
    visits = s.assign()
    assert [(v.partition, v.kind) for v in visits] == [(plan[2], VisitKind.TRAIN)]
    s.complete(visits[0])
    events = []
    while s.has_work():
        for v in s.assign():
            assert v.kind is VisitKind.EVAL
            events += s.complete(v)
    assert s.visit_log("m")[0] == plan
    assert EpochDone("m", 0) in events

    bad = Scheduler(3, seed=5)
    with pytest.raises(SchedulerError, match="prefix"):
        bad.add_model("m", epochs=1, ordinal=2, trained=plan[1:])
    assert bad.models() == []


# --------------------------------------------------------------------------
# Longest remaining first, replayed orders
# --------------------------------------------------------------------------
def test_longest_remaining_first_from_hints_then_measurements() -> None:
    s = Scheduler(2, strict_order=False, evaluate=False)
    s.add_model("small", 1, cost_hint=1e3)
    s.add_model("big", 1, cost_hint=8e3)
    s.add_model("mid", 1, cost_hint=4e3)
    first = s.assign()
    assert [v.model_id for v in first] == ["big", "mid"]  # best first, lowest worker first
    assert s.remaining_s("big") > s.remaining_s("mid") > s.remaining_s("small")
    big, mid = first
    s.complete(mid, seconds=1.0)  # mid measures 1 s: the hints scale to 0.25 ms per unit
    assert s.remaining_s("mid") == 1.0 and s.remaining_s("small") == pytest.approx(0.5)
    (v,) = s.assign()  # mid's freed worker is one it has visited: small goes there
    assert v == Visit("small", mid.partition, 0, TRAIN)
    s.complete(big, seconds=8.0)
    (v,) = s.assign()  # big (8 s left) has visited its freed worker; mid (1 s) has not
    assert v == Visit("mid", big.partition, 0, TRAIN)


def test_shortest_first_while_trials_are_still_to_come_then_longest_first() -> None:
    s = Scheduler(1, strict_order=False, evaluate=False)
    s.shortest_first = True  # the tuner still proposes: the quickest results first
    for name, hint in (("small", 1e3), ("big", 8e3), ("mid", 4e3)):
        s.add_model(name, 2, cost_hint=hint)
    (v,) = s.assign()
    assert v.model_id == "small"
    s.complete(v, seconds=1.0)
    (v,) = s.assign()
    assert v.model_id == "small"  # 1 s left, the others 8 and 16 s
    s.complete(v, seconds=1.0)
    s.shortest_first = False  # nothing more to come: the longest ends the tail
    (v,) = s.assign()
    assert v.model_id == "big"
    s.shortest_first = True  # flipped between assignments: re-ranked at the next one
    s.complete(v, seconds=8.0)
    (v,) = s.assign()
    assert v.model_id == "mid"  # 8 s left against big's 8 s: fewer visits completed first


def test_strict_order_ignores_shortest_first() -> None:
    runs = []
    for flag in (False, True):
        s = Scheduler(2, seed=3, strict_order=True, evaluate=False)
        s.shortest_first = flag
        for name, hint in (("a", 1.0), ("b", 50.0), ("c", 9.0)):
            s.add_model(name, 1, cost_hint=hint)
        runs.append([(v.model_id, v.partition) for v in s.assign()])
    assert runs[0] == runs[1]


def test_measured_time_overrides_the_hint() -> None:
    s = Scheduler(1, strict_order=False, evaluate=False)
    s.add_model("a", 3, cost_hint=100.0)
    s.add_model("b", 3, cost_hint=1.0)
    (v,) = s.assign()
    assert v.model_id == "a"
    s.complete(v, seconds=0.5)  # a turns out fast: 2 x 0.5 s left
    s.add_model("c", 1)  # no hint: the mean first measurement, 0.5 s
    assert s.remaining_s("a") == pytest.approx(1.0)
    assert s.remaining_s("b") == pytest.approx(3 * 1.0 * 0.5 / 100.0)
    (v,) = s.assign()
    assert v.model_id == "a"
    s.complete(v, seconds=0.5)
    (v,) = s.assign()  # a: 0.5 s left; c: 0.5 s (ties: fewer visits completed first)
    assert v.model_id == "c"


@settings(max_examples=60, deadline=None)
@given(
    p=st.integers(1, 5),
    models=st.integers(1, 5),
    epochs=st.integers(1, 3),
    strict=st.booleans(),
    rnd=st.randoms(use_true_random=False),
)
def test_a_replayed_order_is_followed_whatever_the_timing(
    p: int, models: int, epochs: int, strict: bool, rnd: random.Random
) -> None:
    orders = {f"m{i}": {e: rnd.sample(range(p), p) for e in range(epochs)}
              for i in range(models)}
    s = Scheduler(p, seed=rnd.randrange(9), strict_order=strict)
    for mid, order in orders.items():
        s.add_model(mid, epochs, replay=order, cost_hint=rnd.uniform(1, 10))
    drain(s, rnd)
    assert {mid: s.visit_log(mid) for mid in orders} == orders


def test_resume_of_a_work_conserving_epoch_replays_its_prefix() -> None:
    """The partitions a work-conserving run trained resume in any mode when replayed."""
    wc = Scheduler(3, strict_order=False)
    wc.add_model("m", 1)
    (a,) = wc.assign()
    wc.complete(a)
    (b,) = wc.assign()
    wc.complete(b)
    prefix = wc.visit_log("m")[0]
    assert len(prefix) == 2
    for strict in (False, True):
        s = Scheduler(3, seed=1, strict_order=strict)
        s.add_model("m", 1, trained=prefix, replay={0: prefix})
        (v,) = s.assign()
        assert v.kind is TRAIN and v.partition not in prefix
        drain(s)
        assert s.visit_log("m")[0][:2] == prefix
    with pytest.raises(SchedulerError, match="prefix"):
        Scheduler(3, strict_order=False).add_model("m", 1, trained=prefix[::-1],
                                                    replay={0: prefix})
    with pytest.raises(SchedulerError, match="distinct"):
        Scheduler(3).add_model("m", 1, replay={0: [1, 1]})


def test_work_conserving_longest_first_beats_strict_on_heterogeneous_models() -> None:
    """Sub-epochs varying tenfold (the seed space's spread): 4 workers, 12 models."""
    def run(strict: bool, sim_seed: int) -> float:
        times = {f"m{i}": 10 ** random.Random(sim_seed * 100 + i).uniform(0, 1)
                 for i in range(12)}

        def duration(rng: random.Random, v: Visit) -> float:
            t = times[v.model_id] * rng.uniform(0.9, 1.1)
            return t if v.kind is TRAIN else t / 4

        s = Scheduler(4, seed=sim_seed, strict_order=strict)
        for mid, t in times.items():
            s.add_model(mid, 2, cost_hint=t)
        return simulate_measured(s, sim_seed, duration).utilisation

    strict = [run(True, k) for k in range(5)]
    free = [run(False, k) for k in range(5)]
    print(f"\nheterogeneous: strict {sum(strict) / 5:.3f}, work-conserving {sum(free) / 5:.3f}")
    assert sum(free) > sum(strict)
    assert min(free) >= 0.85
