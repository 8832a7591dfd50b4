"""Searchers: a tiny ask/tell interface over grid, random and hyperopt's TPE.

``ask()`` returns the next configuration (or ``None`` when the searcher has no more for
now); ``tell(point_id, loss)`` reports a finished one, ``loss`` already oriented so that
lower is better (``None`` for a failed model).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from cerebro.tune.space import HyperParameter, grid_points, sample_point


class Searcher:
    """Base: subclasses implement ``ask`` and may use ``tell``."""

    def ask(self) -> Optional[tuple[int, dict]]:
        raise NotImplementedError

    def tell(self, point_id: int, loss: Optional[float]) -> None:
        pass


class GridSearcher(Searcher):
    def __init__(self, space: dict):
        self.points = grid_points(space)
        self._next = 0

    def ask(self):
        if self._next >= len(self.points):
            return None
        i = self._next
        self._next += 1
        return i, self.points[i]


class RandomSearcher(Searcher):
    def __init__(self, space: dict, num_models: int, seed: Optional[int]):
        self.space, self.num_models = space, num_models
        self.rng = np.random.default_rng(seed)
        self._next = 0

    def ask(self):
        if self._next >= self.num_models:
            return None
        i = self._next
        self._next += 1
        return i, sample_point(self.space, self.rng)


class TPESearcher(Searcher):
    """hyperopt's TPE driven asynchronously: a new point whenever a slot frees."""

    def __init__(self, space: dict, num_models: int, seed: Optional[int]):
        from hyperopt import Domain, Trials

        self.num_models = num_models
        self._fixed = {k: v for k, v in space.items() if not isinstance(v, HyperParameter)}
        self._params = {k: v for k, v in space.items() if isinstance(v, HyperParameter)}
        hspace = {k: v.to_hyperopt(k) for k, v in space.items() if isinstance(v, HyperParameter)}
        self._space = hspace
        self._domain = Domain(lambda _: 0.0, hspace)
        self._trials = Trials()
        self._rng = np.random.default_rng(seed)
        self._docs: dict[int, dict] = {}
        self._asked = 0

    def ask(self):
        from hyperopt import space_eval, tpe

        if self._asked >= self.num_models:
            return None
        tid = self._trials.new_trial_ids(1)[0]
        docs = tpe.suggest([tid], self._domain, self._trials, int(self._rng.integers(2**31 - 1)))
        doc = docs[0]
        self._trials.insert_trial_docs(docs)
        self._trials.refresh()
        vals = {k: v[0] for k, v in doc["misc"]["vals"].items() if v}
        point = {k: self._params[k].from_hyperopt(v)  # 64.0 from quniform -> 64
                 for k, v in space_eval(self._space, vals).items()}
        point.update(self._fixed)
        self._docs[tid] = doc
        self._asked += 1
        return tid, point

    def tell(self, point_id, loss):
        from hyperopt import JOB_STATE_DONE, JOB_STATE_ERROR, STATUS_FAIL, STATUS_OK

        for doc in self._trials.trials:  # the live documents (new, running and done)
            if doc["tid"] == point_id:
                if loss is None or not np.isfinite(loss):
                    doc["state"], doc["result"] = JOB_STATE_ERROR, {"status": STATUS_FAIL}
                else:
                    doc["state"] = JOB_STATE_DONE
                    doc["result"] = {"loss": float(loss), "status": STATUS_OK}
                break
        self._trials.refresh()
