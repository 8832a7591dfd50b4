"""The backend implements the interfaces the engine owns (``cerebro.engine.ports``): every
member of the ``WorkerPool`` and ``Backend`` Protocols exists on each implementation, and
every method takes the Protocol's parameters (a structural check: ``backend`` does not
import ``engine``)."""

from __future__ import annotations

import inspect

import pytest

from cerebro.backend.base import Backend as BackendABC
from cerebro.backend.base import WorkerPool as WorkerPoolABC
from cerebro.backend.connect import ConnectWorkerPool
from cerebro.backend.pool import SparkWorkerPool
from cerebro.backend.scripted import ScriptedPool
from cerebro.backend.spark import SparkBackend
from cerebro.engine.ports import Backend, WorkerPool


def _members(protocol: type) -> dict[str, object]:
    return {name: value for name, value in vars(protocol).items()
            if not name.startswith("_") and (callable(value) or isinstance(value, property))}


def _params(fn: object) -> list[str]:
    return [p for p in inspect.signature(fn).parameters if p != "self"]  # type: ignore[arg-type]


@pytest.mark.parametrize("protocol, impl", [
    (WorkerPool, WorkerPoolABC), (WorkerPool, ScriptedPool), (WorkerPool, SparkWorkerPool),
    (WorkerPool, ConnectWorkerPool),
    (Backend, BackendABC), (Backend, SparkBackend)], ids=lambda x: x.__name__)
def test_the_backend_implements_the_engines_protocols(protocol, impl):
    members = _members(protocol)
    assert members, protocol
    for name, want in members.items():
        assert hasattr(impl, name), f"{impl.__name__} lacks {protocol.__name__}.{name}"
        got = inspect.getattr_static(impl, name)
        if callable(want) and not isinstance(want, property):
            assert callable(got), f"{impl.__name__}.{name} is not a method"
            assert _params(got) == _params(want), f"{impl.__name__}.{name}"


def test_a_scripted_pool_is_a_worker_pool_at_run_time():
    pool = ScriptedPool(2)
    assert isinstance(pool, WorkerPool) and pool.start_s == 0.0
    assert not isinstance(object(), WorkerPool)
