"""The scheduler's ready queues: free models ranked best first, indexed by where they may run.

Three kinds of lazy heaps hold ``Entry`` tuples (smallest first):

* ``at[w]``: models whose next visit is pinned to worker ``w`` (a strict or replayed
  TRAIN order);
* ``any``: models whose next visit may go to any worker they have not visited in this
  phase (work-conserving TRAIN, every EVAL);
* ``local[w]``: EVAL models whose state sits on ``w`` (they last trained there); they are
  in ``any`` too.

An entry is never updated in place: a model that changes gets a new version and new
entries, and old ones are dropped when they surface (``live`` says whether one is current).
Picking for a worker pops only until the first entry that is live and suitable, so its
cost does not grow with the number of models.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

# (-remaining seconds, completed visits, ordinal, model id, version)
Entry = tuple[float, int, int, str, int]


class ReadyQueues:
    """Lazy heaps of ``Entry`` (see the module docstring)."""

    def __init__(self) -> None:
        self.any: list[Entry] = []
        self.at: dict[int, list[Entry]] = {}
        self.local: dict[int, list[Entry]] = {}
        self.size = 0

    def clear(self) -> None:
        self.any, self.at, self.local, self.size = [], {}, {}, 0

    def push(self, entry: Entry, pin: int | None, local: int | None) -> None:
        """Queues a free model: pinned to ``pin``, else anywhere (and local to ``local``)."""
        if pin is not None:
            heapq.heappush(self.at.setdefault(pin, []), entry)
            self.size += 1
            return
        heapq.heappush(self.any, entry)
        self.size += 1
        if local is not None:
            heapq.heappush(self.local.setdefault(local, []), entry)
            self.size += 1

    def pick(self, worker: int, live: Callable[[Entry], bool],
             suits: Callable[[Entry], bool]) -> Entry | None:
        """The best live entry that suits ``worker``: a local one first, else the better of
        the pinned and the unpinned ones. Entries passed over stay queued; the picked one's
        model must change version (its other entries then go stale)."""
        stash: list[tuple[list[Entry], Entry]] = []
        try:
            best = self._first(self.local.get(worker), live, suits, stash)
            if best is not None:
                return best
            pinned = self._first(self.at.get(worker), live, suits, stash)
            free = self._first(self.any, live, suits, stash)
            if pinned is None or (free is not None and free < pinned):
                return free
            return pinned
        finally:
            for heap, entry in stash:
                heapq.heappush(heap, entry)

    def _first(self, heap: list[Entry] | None, live: Callable[[Entry], bool],
               suits: Callable[[Entry], bool],
               stash: list[tuple[list[Entry], Entry]]) -> Entry | None:
        """Pops stale entries; returns (and stashes) the first live entry that suits."""
        if not heap:
            return None
        while heap:
            entry = heap[0]
            if not live(entry):
                heapq.heappop(heap)
                self.size -= 1
                continue
            heapq.heappop(heap)
            stash.append((heap, entry))
            if suits(entry):
                return entry
        return None
