"""The streamed shard's block shuffle and batch plan (no Spark: fast)."""

from __future__ import annotations

import numpy as np
import pytest

from cerebro.data.pipeline import BatchPlan, block_groups, block_order, plan_for


@pytest.mark.parametrize("rows,block,group", [(1000, 64, 4), (1001, 1, 16), (7, 100, 3),
                                              (0, 8, 2), (4096, 256, 16)])
def test_block_order_covers_every_row_exactly_once(rows, block, group):
    order = block_order(rows, block, group, seed=5)
    assert np.array_equal(np.sort(order), np.arange(rows))


def test_block_order_is_seeded_and_shuffles():
    a, b = block_order(5000, 100, 8, seed=1), block_order(5000, 100, 8, seed=1)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, block_order(5000, 100, 8, seed=2))
    assert not np.array_equal(a, np.arange(5000))
    # rows of one buffer (8 blocks of 100) are mixed: the first batch spans several blocks
    assert len(np.unique(a[:32] // 100)) > 2


def test_groups_hold_a_bounded_number_of_rows():
    groups = block_groups(10_000, 50, 4, seed=0)
    assert max(len(perm) for _, perm in groups) <= 200
    assert all(b - a <= 50 for ranges, _ in groups for a, b in ranges)


class _Disk:
    """A shard read by ranges only, recording what was read."""

    in_memory = False

    def __init__(self, rows):
        self.rows, self.data, self.reads = rows, np.arange(rows) * 10, []

    def read(self, col, a, b):
        self.reads.append((a, b))
        return self.data[a:b]


@pytest.mark.parametrize("seed", [None, 3])
def test_plan_yields_each_row_once_in_batches(seed):
    shard = _Disk(1003)
    plan = plan_for(shard, ["v"], batch_size=32, seed=seed, buffer_rows=160)
    assert isinstance(plan, BatchPlan) and len(plan) == 32
    seen = np.concatenate([plan.rows_of(i)["v"] for i in range(len(plan))])
    assert np.array_equal(np.sort(seen), np.arange(1003) * 10)
    assert all(b - a <= 160 for a, b in shard.reads)  # never the whole shard at once
    if seed is None:
        assert np.array_equal(seen, np.arange(1003) * 10)
    else:
        assert np.array_equal(seen, block_order(1003, 10, 16, seed) * 10)
