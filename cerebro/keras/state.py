"""Model state <-> bytes: what moves through the store when a model hops.

A model is shipped once as a ``.keras`` file (architecture, compile config, initial weights).
After that, a hop moves only its *state*: every weight, every optimizer variable (moments,
iteration count, learning rate) and the engine's counters, as one uncompressed ``.npz``.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import threading
from typing import Any

import numpy as np

_META = "__meta__"

#: Keras keeps its build state (name scopes, the layer-name counter) in one module-level
#: ``threading.local`` that ``keras.backend.clear_session`` replaces for every thread at once.
#: Two searches started from two threads of one driver would clear each other's state
#: mid-build (``IndexError: pop from empty list`` in ``name_scope``), so every driver-side
#: build, load or session clear holds this lock.
KERAS_BUILD_LOCK = threading.RLock()


def model_to_bytes(model: Any) -> bytes:
    """Serializes a compiled Keras model (architecture + compile config + weights)."""
    with tempfile.TemporaryDirectory(prefix="cerebro-") as d:
        path = os.path.join(d, "tmp.keras")  # a local temporary file
        model.save(path)
        with open(path, "rb") as f:
            return f.read()


def model_from_bytes(data: bytes, custom_objects: dict[str, Any] | None = None, compile: bool = True) -> Any:
    """Rebuilds a Keras model from ``model_to_bytes`` output."""
    import warnings

    import keras

    with tempfile.TemporaryDirectory(prefix="cerebro-") as d:
        path = os.path.join(d, "tmp.keras")  # a local temporary file
        with open(path, "wb") as f:
            f.write(data)
        with warnings.catch_warnings():
            # A spec is saved before its optimizer is built; Keras warns that it cannot
            # restore optimizer variables that do not exist yet. The state restores them.
            warnings.filterwarnings("ignore", message=".*Skipping variable loading for optimizer.*")
            with KERAS_BUILD_LOCK:
                return keras.saving.load_model(path, custom_objects=custom_objects,
                                               compile=compile)


def ensure_optimizer_built(model: Any) -> None:
    """Creates the optimizer's variables so they can be saved or assigned."""
    opt = getattr(model, "optimizer", None)
    if opt is not None and not opt.built:
        opt.build(model.trainable_variables)


def get_state(model: Any, counters: dict[str, Any] | None = None) -> dict[str, Any]:
    """Returns the model's full training state as numpy arrays plus a counters dict."""
    ensure_optimizer_built(model)
    weights = [np.asarray(v.numpy()) for v in model.weights]
    opt = model.optimizer
    opt_vars = [np.asarray(v.numpy()) for v in opt.variables] if opt is not None else []
    return {"weights": weights, "optimizer": opt_vars, "counters": dict(counters or {})}


def set_state(model: Any, state: dict[str, Any]) -> None:
    """Assigns a state from ``get_state`` to a model of the same architecture."""
    ensure_optimizer_built(model)
    weights = state["weights"]
    if len(weights) != len(model.weights):
        raise ValueError(
            f"state has {len(weights)} weights but the model has {len(model.weights)}; "
            "it belongs to another architecture"
        )
    for var, value in zip(model.weights, weights):
        var.assign(value)
    if model.optimizer is not None and state["optimizer"]:
        opt_vars = model.optimizer.variables
        if len(opt_vars) != len(state["optimizer"]):
            raise ValueError("optimizer state does not match the model's optimizer")
        for var, value in zip(opt_vars, state["optimizer"]):
            var.assign(value)


def state_to_bytes(state: dict[str, Any]) -> bytes:
    arrays = {f"w{i}": a for i, a in enumerate(state["weights"])}
    arrays.update({f"o{i}": a for i, a in enumerate(state["optimizer"])})
    meta = {"n_weights": len(state["weights"]), "n_opt": len(state["optimizer"]),
            "counters": state.get("counters", {})}
    arrays[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def state_from_bytes(data: bytes) -> dict[str, Any]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        meta = json.loads(z[_META].tobytes().decode())
        return {
            "weights": [z[f"w{i}"] for i in range(meta["n_weights"])],
            "optimizer": [z[f"o{i}"] for i in range(meta["n_opt"])],
            "counters": meta["counters"],
        }


def state_nbytes(model: Any) -> int:
    """Approximate memory a cached model holds: weights plus optimizer variables."""
    n = sum(int(np.prod(v.shape)) * 4 for v in model.weights)
    opt = getattr(model, "optimizer", None)
    if opt is not None and opt.built:
        n += sum(int(np.prod(v.shape)) * 4 for v in opt.variables)
    else:
        n *= 3  # Adam-like: two moments per weight once built
    return n
