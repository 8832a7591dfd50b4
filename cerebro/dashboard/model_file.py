"""A trial's ``.keras`` file, built from what the search left in its store.

The spec (architecture, compile config, initial weights) is at the trial's ``spec_key``; the
state its result uses (every weight and optimizer variable) at its ``state_key``. Records of
runners that did not send those keys fall back to the project's ``RunLayout`` (the experiment's
name is the project): the model's spec there and its newest state.
The store is the experiment's ``config["store"]``, else the one the dashboard was started on,
else the directory holding the SQLite records.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from cerebro.keras.state import KERAS_BUILD_LOCK
from cerebro.records import RecordsDB
from cerebro.records.queries import NotFound, get_experiment, get_trial


def store_for(db: RecordsDB, config: dict, hint: Optional[str] = None):
    """The store holding an experiment's models (see the module's docstring)."""
    from cerebro.storage.base import Store

    where = config.get("store") or hint
    if not where and db.url.startswith("sqlite:///"):
        where = os.path.dirname(db.url[len("sqlite:///"):])
    if not where:
        raise NotFound("the experiment does not say where its store is; start the dashboard "
                       "with --store PATH")
    return Store.create(str(where))


def _layout(store, exp: dict):
    """The ``RunLayout`` of the experiment's project (its name)."""
    from cerebro.storage.layout import RunLayout

    try:
        return RunLayout(store, exp["name"])
    except ValueError as e:  # not a project name: no runner wrote this experiment's runs
        raise NotFound(f"experiment {exp['name']!r} has no runs in the store: {e}") from None


def _newest_state(layout, model_id: str) -> Optional[str]:
    try:
        seqs = layout.states(model_id)
    except (OSError, FileNotFoundError):
        return None
    return layout.state_key(model_id, seqs[-1]) if seqs else None


def _spec_key(layout, t: dict) -> str:
    """The trial's recorded spec key, else the one of its project's layout."""
    return t.get("spec_key") or layout.spec_key(t["model_id"])


def keras_bytes(db: RecordsDB, trial_id: int, store_hint: Optional[str] = None) -> tuple[str,
                                                                                        bytes]:
    """``(file name, .keras bytes)`` of a trial, with the weights of its result state.

    Raises:
        NotFound: No such trial, or its spec is not in the store (any more).
    """
    t = get_trial(db, trial_id)
    exp = get_experiment(db, t["experiment_id"])
    store = store_for(db, exp["config"], store_hint)
    layout = _layout(store, exp)
    spec_key = _spec_key(layout, t)
    if not store.exists(spec_key):
        raise NotFound(f"trial {t['model_id']} has no model spec at {spec_key!r} in the store "
                       f"{store.uri(spec_key) if hasattr(store, 'uri') else ''}".strip())
    state_key = t.get("state_key") or _newest_state(layout, t["model_id"])
    if state_key and not store.exists(state_key):
        state_key = _newest_state(layout, t["model_id"])
    with KERAS_BUILD_LOCK:  # Keras model building is not thread-safe
        data = _build(store, spec_key, state_key, _custom_objects(layout, t["model_id"]))
    return f"{t['model_id']}.keras", data


def _custom_objects(layout, model_id: str) -> Optional[dict[str, Any]]:
    """The estimator's ``custom_objects`` shipped beside the spec, if any."""
    custom_key = layout.custom_objects_key(model_id)
    if not layout.store.exists(custom_key):
        return None
    import cloudpickle

    return cloudpickle.loads(layout.store.read_bytes(custom_key))


def _build(store, spec_key: str, state_key: Optional[str],
           custom_objects: Optional[dict[str, Any]]) -> bytes:
    from cerebro.keras import state as state_mod

    model = state_mod.model_from_bytes(store.read_bytes(spec_key), custom_objects)
    if state_key:
        state_mod.set_state(model, state_mod.state_from_bytes(store.read_bytes(state_key)))
    return state_mod.model_to_bytes(model)


_SUMMARIES: dict[tuple[str, int], str] = {}


def summary_text(db: RecordsDB, trial_id: int, store_hint: Optional[str] = None) -> str:
    """The trial's Keras model summary: the recorded one, else built from its spec (cached).

    Raises:
        NotFound: No such trial, or no summary recorded and no spec in the store.
    """
    t = get_trial(db, trial_id)
    if t.get("summary"):
        return t["summary"]
    key = (db.url, trial_id)
    if key not in _SUMMARIES:
        exp = get_experiment(db, t["experiment_id"])
        store = store_for(db, exp["config"], store_hint)
        layout = _layout(store, exp)
        spec_key = _spec_key(layout, t)
        if not store.exists(spec_key):
            raise NotFound(f"no summary recorded for {t['model_id']} and no spec at {spec_key!r}")
        from cerebro.keras import state as state_mod

        lines: list[str] = []
        with KERAS_BUILD_LOCK:  # Keras model building is not thread-safe
            model = state_mod.model_from_bytes(
                store.read_bytes(spec_key), _custom_objects(layout, t["model_id"]),
                compile=False)
            model.summary(print_fn=lambda line, *a, **k: lines.append(str(line)), line_length=100)
        _SUMMARIES[key] = "\n".join(lines)
    return _SUMMARIES[key]
