"""Elastic threads: a visit's threads from the idle workers of its host (pure numbers)."""

from __future__ import annotations

import pytest

from cerebro.mop import visit_threads


def test_a_lone_visit_gets_the_cores_of_the_idle_workers_on_its_host():
    assert visit_threads([0], running={0}, idle={1}, hosts=["h", "h"], cores=[1, 1]) == {0: 2}


def test_busy_workers_keep_their_own_cores():
    out = visit_threads([0, 1], running={0, 1}, idle=set(), hosts=["h", "h"], cores=[1, 1])
    assert out == {0: 1, 1: 1}


def test_idle_cores_are_not_lent_across_hosts():
    out = visit_threads([0, 2], running={0, 2}, idle={1, 3}, hosts=["a", "a", "b", "b"],
                        cores=[2, 2, 1, 3])
    assert out == {0: 4, 2: 4}


def test_spare_cores_are_split_evenly_and_the_remainder_goes_to_the_lowest_workers():
    # host h: workers 0, 1, 2 running (1 was already running), 3 and 4 idle: 3 spare cores
    out = visit_threads([0, 2], running={0, 1, 2}, idle={3, 4}, hosts=["h"] * 5,
                        cores=[1, 1, 1, 1, 2])
    assert out == {0: 2, 2: 2}  # 3 spare // 3 visits = 1 each; none left over
    out = visit_threads([2], running={1, 2}, idle={0, 3}, hosts=["h"] * 4, cores=[2, 1, 1, 1])
    assert out == {2: 2}  # 3 spare: 1 each, the extra one to worker 1 (already running)


def test_a_worker_without_a_visit_cannot_get_threads():
    with pytest.raises(ValueError, match="worker 1"):
        visit_threads([1], running={0}, idle={1}, hosts=["h", "h"], cores=[1, 1])
    with pytest.raises(ValueError, match="core counts"):
        visit_threads([0], running={0}, idle=set(), hosts=["h"], cores=[1, 1])
