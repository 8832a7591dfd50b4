"""Analyses of an experiment's trials: hyperparameter importance and the search space.

Importance is the impurity-based feature importance of a scikit-learn random forest fitted
to predict each trial's best objective value from its hyperparameters (numbers as they are,
booleans as 0/1, other values as category codes; a hyperparameter a trial lacks gets a
value of its own). Hyperparameters that never vary are left out. Results are cached per
experiment and change counter, so a dashboard polling an unchanged search pays nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Optional

from sqlalchemy import func, select

from cerebro.records.db import RecordsDB
from cerebro.records.models import Experiment, Trial
from cerebro.records.queries import NotFound, direction_of

MIN_TRIALS = 3
_CACHE: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 64


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def encode(rows: list[dict[str, Any]], names: list[str]) -> Any:
    """``rows`` of hyperparameters as a float matrix (see the module's docstring)."""
    import numpy as np

    x = np.zeros((len(rows), len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        values = [r.get(name) for r in rows]
        if all(v is None or _is_number(v) for v in values):
            nums = [float(v) for v in values if v is not None]
            missing = (min(nums) - 1.0) if nums else 0.0
            x[:, j] = [float(v) if v is not None else missing for v in values]
        else:
            codes = {k: i for i, k in enumerate(sorted({repr(v) for v in values}))}
            x[:, j] = [codes[repr(v)] for v in values]
    return x


def importance(db: RecordsDB, experiment_id: int) -> dict[str, Any]:
    """Hyperparameter importance for the experiment's objective.

    Returns:
        ``{"objective", "direction", "trials", "method", "importances": [{"name",
        "importance"}] (largest first, summing to 1), "note"}``; ``importances`` is empty
        (and ``note`` says why) with fewer than 3 trials that have a value, or when no
        hyperparameter varies.

    Raises:
        NotFound: No such experiment.
    """
    with db.session() as s:
        e = s.get(Experiment, experiment_id)
        if e is None:
            raise NotFound(f"no experiment {experiment_id}")
        signature = (db.url, experiment_id, *s.execute(
            select(func.count(Trial.id), func.max(Trial.rev), func.sum(Trial.best_value)).where(
                Trial.experiment_id == experiment_id)).one())
        with _CACHE_LOCK:
            if signature in _CACHE:
                _CACHE.move_to_end(signature)
                return _CACHE[signature]
        rows = s.execute(select(Trial.hyperparameters, Trial.best_value).where(
            Trial.experiment_id == experiment_id, Trial.best_value.is_not(None))
            .order_by(Trial.id)).all()
        out = {"objective": e.metric, "direction": direction_of(e), "trials": len(rows),
               "method": "random forest (scikit-learn), impurity importance", "importances": [],
               "note": ""}
    out.update(_fit([dict(h or {}) for h, _ in rows], [float(v) for _, v in rows]))
    with _CACHE_LOCK:
        _CACHE[signature] = out
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return out


def _fit(params: list[dict[str, Any]], values: list[float]) -> dict[str, Any]:
    if len(params) < MIN_TRIALS:
        return {"note": f"needs at least {MIN_TRIALS} trials with a value "
                        f"({len(params)} so far)"}
    names = sorted({k for p in params for k in p})
    names = [n for n in names if len({repr(p.get(n)) for p in params}) > 1]
    if not names:
        return {"note": "no hyperparameter varies across the trials"}
    if len(set(values)) < 2:
        return {"note": "every trial has the same value"}
    from sklearn.ensemble import RandomForestRegressor

    forest = RandomForestRegressor(n_estimators=48, random_state=0, n_jobs=1)
    forest.fit(encode(params, names), values)
    ranked = sorted(zip(names, forest.feature_importances_), key=lambda p: -p[1])
    return {"importances": [{"name": n, "importance": float(v)} for n, v in ranked]}


def space(db: RecordsDB, experiment_id: int) -> dict[str, Any]:
    """The search space: as declared in the experiment's config, and as the trials used it.

    Returns:
        ``{"declared": config["space"] or None, "hyperparameters": [{"name", "type",
        "trials", "values" (up to 30 distinct, most used first) or "min"/"max",
        "best_value_by_value"}]}``.
    """
    with db.session() as s:
        e = s.get(Experiment, experiment_id)
        if e is None:
            raise NotFound(f"no experiment {experiment_id}")
        declared = (e.config or {}).get("space")
        rows = s.execute(select(Trial.hyperparameters, Trial.best_value).where(
            Trial.experiment_id == experiment_id)).all()
        direction = direction_of(e)
    names = sorted({k for h, _ in rows for k in (h or {})})
    out = []
    for name in names:
        used = [((h or {})[name], v) for h, v in rows if name in (h or {})]
        out.append(_describe(name, used, direction))
    return {"declared": declared, "objective": e.metric, "direction": direction,
            "hyperparameters": out}


def _describe(name: str, used: list[tuple[Any, Optional[float]]], direction: str) -> dict[str, Any]:
    values = [u for u, _ in used]
    d: dict[str, Any] = {"name": name, "trials": len(used)}
    if values and all(_is_number(v) for v in values) and len(set(values)) > 30:
        d.update(type="float" if any(isinstance(v, float) for v in values) else "int",
                 min=min(values), max=max(values))
        return d
    kinds = {type(v).__name__ for v in values}
    d["type"] = kinds.pop() if len(kinds) == 1 else "mixed"
    stats: dict[str, dict[str, Any]] = {}
    for v, best in used:
        key = repr(v)
        entry = stats.setdefault(key, {"value": v, "trials": 0, "best": None})
        entry["trials"] += 1
        if best is not None and (entry["best"] is None or (
                best > entry["best"] if direction == "max" else best < entry["best"])):
            entry["best"] = best
    d["values"] = sorted(stats.values(), key=lambda x: -x["trials"])[:30]
    return d
