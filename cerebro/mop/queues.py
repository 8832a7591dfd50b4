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
Filling idle workers walks the entries best first and stops when no idle worker is left,
so an assignment costs about ``log(models)`` while models outnumber idle workers.
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

    def fill(self, idle: set[int], live: Callable[[Entry], bool],
             place: Callable[[Entry, int | None], bool]) -> None:
        """Hands out entries best first while a worker in ``idle`` is left.

        Local EVAL entries go first, each to its own worker; then pinned and unpinned
        entries merge in one best-first stream. ``place(entry, worker)`` tries to run the
        entry's model on ``worker`` (``None``: on any idle worker it suits), removes that
        worker from ``idle`` and renews the model's version when it does, and says whether
        it did. Entries passed over stay queued.
        """
        stash: list[tuple[list[Entry], Entry]] = []
        try:
            for w in sorted(idle & self.local.keys()):
                heap = self.local[w]
                while heap and w in idle:
                    entry = self._pop_live(heap, live, stash)
                    if entry is not None:
                        place(entry, w)
            tops: list[tuple[Entry, int]] = []
            for w in idle & self.at.keys():
                self._next_pinned(w, tops, live, stash)
            while idle:
                while self.any and not live(self.any[0]):
                    heapq.heappop(self.any)
                    self.size -= 1
                best = self.any[0] if self.any else None
                if tops and (best is None or tops[0][0] < best):
                    entry, w = heapq.heappop(tops)
                    if w in idle and not (live(entry) and place(entry, w)):
                        self._next_pinned(w, tops, live, stash)
                elif best is not None:
                    stash.append((self.any, heapq.heappop(self.any)))
                    place(best, None)
                else:
                    break
        finally:
            for heap, entry in stash:
                heapq.heappush(heap, entry)

    def _next_pinned(self, worker: int, tops: list[tuple[Entry, int]],
                     live: Callable[[Entry], bool], stash: list[tuple[list[Entry], Entry]]
                     ) -> None:
        """Moves the next live entry pinned to ``worker`` into the merge heap ``tops``."""
        heap = self.at.get(worker)
        entry = self._pop_live(heap, live, stash) if heap else None
        if entry is not None:
            heapq.heappush(tops, (entry, worker))

    def _pop_live(self, heap: list[Entry], live: Callable[[Entry], bool],
                  stash: list[tuple[list[Entry], Entry]]) -> Entry | None:
        """Drops stale entries; pops (and stashes, to requeue) the first live one."""
        while heap:
            entry = heapq.heappop(heap)
            if live(entry):
                stash.append((heap, entry))
                return entry
            self.size -= 1
        return None
