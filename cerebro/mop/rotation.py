"""Strict TRAIN orders: the seeded rotation each model follows through the partitions.

Epoch ``e`` has one base order, ``list(range(P))`` shuffled by ``random.Random(f"{seed}:{e}")``;
the model with ordinal ``k`` visits ``base[(k + j) % P]`` for ``j = 0..P-1``. Models with
different ordinals start on different partitions, so ``P`` models fill ``P`` workers at once.
A replayed order (a logged ``visit_log``) pins an epoch's first visits in either mode.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from cerebro.mop.records import SchedulerError


def check_replay(model_id: str, replay: Mapping[int, Sequence[int]], p: int
                 ) -> dict[int, list[int]]:
    """The replayed orders as ``{epoch: [partition, ...]}``, each of distinct partitions.

    Raises:
        SchedulerError: On a repeated or out-of-range partition.
    """
    out = {int(e): [int(w) for w in order] for e, order in replay.items()}
    for e, order in out.items():
        if len(set(order)) != len(order) or not all(0 <= w < p for w in order):
            raise SchedulerError(f"model {model_id!r}: replayed order {order} of epoch {e} "
                                 f"is not a sequence of distinct partitions 0..{p - 1}")
    return out


class Rotation:
    """The base orders of one scheduler (cached per epoch).

    Args:
        num_partitions: ``P``.
        seed: The scheduler's seed.
    """

    def __init__(self, num_partitions: int, seed: int) -> None:
        self.num_partitions = num_partitions
        self.seed = seed
        self._base: dict[int, list[int]] = {}

    def base(self, epoch: int) -> list[int]:
        """The epoch's shuffled partition order."""
        base = self._base.get(epoch)
        if base is None:
            base = list(range(self.num_partitions))
            random.Random(f"{self.seed}:{epoch}").shuffle(base)
            self._base[epoch] = base
        return base

    def order(self, ordinal: int, epoch: int) -> list[int]:
        """The whole TRAIN order of epoch ``epoch`` for the model with ``ordinal``."""
        base, p = self.base(epoch), self.num_partitions
        return [base[(ordinal + j) % p] for j in range(p)]

    def next_partition(self, ordinal: int, epoch: int, visited: int) -> int:
        """The partition a model must train on after ``visited`` visits of the epoch."""
        return self.base(epoch)[(ordinal + visited) % self.num_partitions]

    def pinned(self, ordinal: int, epoch: int, replay: list[int] | None,
               strict: bool) -> list[int] | None:
        """The TRAIN order a model must follow in ``epoch`` (``None``: any order).

        Strict: its rotation, after the replayed partitions if any; otherwise just the
        replayed partitions (the rest of the epoch is then free).
        """
        if not strict:
            return list(replay) if replay else None
        base = self.order(ordinal, epoch)
        if not replay:
            return base
        taken = set(replay)
        return replay + [w for w in base if w not in taken]
