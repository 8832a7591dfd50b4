"""Strict TRAIN orders: the seeded rotation each model follows through the partitions.

Epoch ``e`` has one base order, ``list(range(P))`` shuffled by ``random.Random(f"{seed}:{e}")``;
the model with ordinal ``k`` visits ``base[(k + j) % P]`` for ``j = 0..P-1``. Models with
different ordinals start on different partitions, so ``P`` models fill ``P`` workers at once.
"""

from __future__ import annotations

import random


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
