"""Visit order in the ``SearchRunner`` on the in-process ``ScriptedPool`` (virtual time):
shortest remaining first while the tuner still has trials to give, longest first after."""

from __future__ import annotations

import dataclasses
import statistics

from cerebro.backend.scripted import Outcome
from cerebro.search import RunnerSettings, SearchRunner
from cerebro.storage import LocalStore
from cerebro.wire import VisitTask

from .test_runner_stopping import LOSS, Backend, ListSource

SLOW = "t1"  # its sub-epochs take 10x the others'


@dataclasses.dataclass
class Uneven(Backend):
    def script(self, worker: int, task: VisitTask) -> Outcome:
        out = super().script(worker, task)
        return dataclasses.replace(out, seconds=10.0 if task.model_id == SLOW else 1.0)


class LongestFirstAlways(SearchRunner):
    """The order before: longest remaining first even while trials are to come."""

    def refill(self, hopper) -> None:
        super().refill(hopper)
        hopper.scheduler.shortest_first = False


def _run(tmp_path, runner_cls):
    backend = Uneven(LOSS)
    ended: dict[str, float] = {}
    added: list[float] = []
    flags: list[bool] = []

    def listen(kind, payload):
        if kind == "model_done":
            ended[payload["model_id"]] = backend.pool.clock()
        elif kind == "model_added":
            added.append(backend.pool.clock() if backend.pool else 0.0)

    settings = RunnerSettings(project="p", parallelism=4, output_names=["y__output"],
                              verbose=0, records=False, listeners=(listen,))
    runner = runner_cls(backend, LocalStore(str(tmp_path / runner_cls.__name__)), ListSource(),
                        settings, dataset=None, columns=("x", "y"))
    original = runner.refill

    def refill(hopper):
        original(hopper)
        flags.append(hopper.scheduler.shortest_first)

    runner.refill = refill
    runner.run()
    return ended, added, flags


def test_quick_results_first_while_trials_are_to_come_then_longest_first(tmp_path):
    ended, added, flags = _run(tmp_path, SearchRunner)
    before, added_before, _ = _run(tmp_path, LongestFirstAlways)
    assert len(ended) == len(before) == 8
    assert flags[0] is True and flags[-1] is False  # shortest first until the tuner is done
    quick = statistics.mean(t for m, t in ended.items() if m != SLOW)
    quick_before = statistics.mean(t for m, t in before.items() if m != SLOW)
    print(f"\nquick trials end at {quick:.1f} s on average (longest first always: "
          f"{quick_before:.1f} s); last trial added at {added[-1]:.1f} s "
          f"({added_before[-1]:.1f} s); search ends {max(ended.values()):.1f} s "
          f"({max(before.values()):.1f} s)")
    assert quick < quick_before  # the tuner hears sooner
    assert added[-1] <= added_before[-1]
    assert max(ended.values()) <= 1.1 * max(before.values())  # and the tail costs little
