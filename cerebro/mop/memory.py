"""Memory admission for workers that share a host's memory: pure numbers, no psutil.

Workers in one *group* (a host) share a memory budget. Every visit reserves memory for its
model, and a visit may start only if the reservations of the group's running visits, the
idle memory of its idle workers and the new reservation fit the budget. The reservation is
the floor of the visit's *allowance*, which also gets an even share of the memory the host's
running visits leave free: a worker whose process grows past it gives the visit up (the
backend reports the loss with ``LostReason.MEMORY``), before the host runs out.

A model's reservation:

- unknown (no visit measured yet): a fair share, ``budget / workers in the group``;
- measured: its peak resident memory times ``1 + margin``;
- after a memory loss: *exclusive*, the whole budget less the idle workers: the group
  drains (no new visits start in it) until the model can run alone, and a second memory
  loss fails the model (the hopper decides that).

All sizes are bytes of a worker process's resident memory (interpreter, framework, shard
and model together), as the backend measures them.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence


class MemoryPlan:
    """Per-group memory budgets and per-model reservations.

    Args:
        groups: The group of each worker (index = worker), e.g. its host name.
        budgets: Bytes each group's workers may use together; groups not listed are
            unlimited.
        margin: Head-room added to a measured peak.
    """

    def __init__(self, groups: Sequence[Hashable], budgets: Mapping[Hashable, int],
                 margin: float = 0.1) -> None:
        self.groups = list(groups)
        self.budgets = {g: int(b) for g, b in budgets.items()}
        self.margin = float(margin)
        self._idle = [0] * len(self.groups)
        self._peak: dict[str, int] = {}
        self._exclusive: set[str] = set()

    # -- what the engine reports ------------------------------------------------------------
    def set_idle(self, worker: int, nbytes: int) -> None:
        """A worker's memory while it runs no visit (interpreter, framework, shard)."""
        self._idle[worker] = int(nbytes)

    def idle(self, worker: int) -> int:
        """The worker's memory while it runs no visit, as last reported (0 until then)."""
        return self._idle[worker]

    def observe(self, model_id: str, peak_bytes: int) -> None:
        """A visit of the model completed with this peak."""
        if peak_bytes > 0:
            self._peak[model_id] = max(self._peak.get(model_id, 0), int(peak_bytes))

    def lost(self, model_id: str, at_bytes: int = 0) -> None:
        """A visit of the model went over its allowance: it runs alone from now on."""
        self.observe(model_id, at_bytes)
        self._exclusive.add(model_id)

    def forget(self, model_id: str) -> None:
        self._peak.pop(model_id, None)
        self._exclusive.discard(model_id)

    # -- what the scheduler asks ------------------------------------------------------------
    def peak(self, model_id: str) -> int:
        """The largest peak measured for the model (0: unknown)."""
        return self._peak.get(model_id, 0)

    def is_exclusive(self, model_id: str) -> bool:
        return model_id in self._exclusive

    def limited(self, worker: int) -> bool:
        return self.groups[worker] in self.budgets

    def _members(self, worker: int) -> list[int]:
        g = self.groups[worker]
        return [w for w, h in enumerate(self.groups) if h == g]

    def reservation(self, model_id: str, worker: int) -> int:
        """Bytes a visit of the model reserves on ``worker`` (its allowance there)."""
        g = self.groups[worker]
        budget = self.budgets.get(g)
        if budget is None:
            return 0
        alone = budget - sum(self._idle[w] for w in self._members(worker) if w != worker)
        if model_id in self._exclusive:
            return alone
        peak = self._peak.get(model_id)
        if peak is None:
            return min(alone, budget // len(self._members(worker)))
        return min(alone, int(peak * (1.0 + self.margin)))

    def admits(self, model_id: str, worker: int, running: Mapping[int, str]) -> bool:
        """Whether a visit of the model may start on ``worker`` beside ``running``.

        Args:
            model_id: The candidate.
            worker: The idle worker it would run on.
            running: Worker -> model id of the visits running now.
        """
        budget = self.budgets.get(self.groups[worker])
        if budget is None:
            return True
        used = self.reservation(model_id, worker)
        for w in self._members(worker):
            if w == worker:
                continue
            used += self.reservation(running[w], w) if w in running else self._idle[w]
        return used <= budget

    def allowance(self, model_id: str, worker: int,
                  running: Mapping[int, str] | None = None) -> int | None:
        """The memory the worker may use for the visit (``None``: no limit).

        Without ``running`` this is the visit's reservation. With it (worker -> model id of
        the visits running now, this one included), the visit also gets an even share of the
        group's slack, the budget the running reservations and idle workers leave: an
        estimate a little low (a peak measured on another worker) does not cost a restart
        while the host has room, and the running visits' allowances still sum to the budget.
        """
        if not self.limited(worker):
            return None
        own = self.reservation(model_id, worker)
        if running is None:
            return own
        members = self._members(worker)
        used, busy = 0, 0
        for w in members:
            if w in running:
                used += own if w == worker else self.reservation(running[w], w)
                busy += 1
            else:
                used += self._idle[w]
        slack = self.budgets[self.groups[worker]] - used
        return own + max(0, slack) // max(1, busy + (worker not in running))
