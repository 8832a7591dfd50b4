"""Elastic threads: how many CPU threads a visit may use, from the idle workers on its host.

A worker owns some cores of its host (``spark.task.cpus``, or its share of a local master's
cores). A worker left idle after :meth:`cerebro.mop.Scheduler.assign` has nothing runnable
(greedy filling is maximal), so its cores would idle too: they are lent to the visits
running on the same host, split evenly among them. The decision is made when a visit is
dispatched and holds for that visit only; its model's next visit is decided anew. An idle
worker that gets work later while a borrowed-thread visit still runs briefly oversubscribes
its host (one visit's worth at most): accepted, as waiting would idle the cores instead.

Pure numbers, no Spark: the hopper calls :func:`visit_threads` with what the scheduler knows.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Sequence


def visit_threads(new: Iterable[int], running: Collection[int], idle: Collection[int],
                  hosts: Sequence[Hashable], cores: Sequence[int]) -> dict[int, int]:
    """Threads for each newly dispatched visit.

    Each host's *spare* cores (those of its idle workers) are split evenly among the visits
    running on it; the remainder goes one core each to the lowest-numbered of them.

    Args:
        new: Workers that were just given a visit.
        running: Every worker with a visit in flight, the new ones included.
        idle: Workers that are up and have no visit after assignment (nothing runnable).
        hosts: The host of each worker (index = worker).
        cores: The cores each worker owns (index = worker), at least 1.

    Returns:
        Worker -> threads, for the workers in ``new``: its own cores plus its share.

    Raises:
        ValueError: If ``hosts`` and ``cores`` differ in length, or a worker in ``new`` is
            not in ``running``.
    """
    if len(hosts) != len(cores):
        raise ValueError(f"{len(hosts)} hosts but {len(cores)} core counts")
    busy: dict[Hashable, list[int]] = {}
    for w in sorted(running):
        busy.setdefault(hosts[w], []).append(w)
    spare: dict[Hashable, int] = {}
    for w in idle:
        if w not in running:
            spare[hosts[w]] = spare.get(hosts[w], 0) + max(1, cores[w])
    out: dict[int, int] = {}
    for w in new:
        if w not in running:
            raise ValueError(f"worker {w} got a visit but is not running one")
        peers = busy[hosts[w]]
        share, extra = divmod(spare.get(hosts[w], 0), len(peers))
        out[w] = max(1, cores[w]) + share + int(peers.index(w) < extra)
    return out


__all__ = ["visit_threads"]
