"""Which Keras callbacks a model-hopping search can run, checked before any training.

A trial trains in sub-epochs on several workers, so no ``keras.Model.fit`` sees a whole
epoch: callbacks run on the driver at epoch boundaries (``cerebro.search.callbacks``).
``check_callbacks`` refuses, naming them, the ones that need per-batch hooks or the real
model. It is here, beside ``SparkEstimator``, so that ``SparkEstimator(callbacks=...)`` and
``HyperHyperModel.fit(callbacks=...)`` refuse the same callbacks with the same message.
"""

from __future__ import annotations

import copy
from typing import Any

BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end",
               "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin",
               "on_predict_batch_end", "on_test_begin", "on_test_end", "on_predict_begin",
               "on_predict_end")

# Keras callbacks that cannot run on the driver, and what to do instead.
REFUSED = {
    "ModelCheckpoint": "every trial's states are kept in the store; save the result's model "
                       "(result.get_best_model().keras().save(...))",
    "BackupAndRestore": "a search resumes from the store by itself (rerun with overwrite=False)",
    "TensorBoard": "it writes per-batch summaries of the real model; use the records "
                   "(cerebro dashboard) or MLflow (the search's mlflow=...)",
    "ProgbarLogger": "the search shows its own progress (verbose=1)",
    "SwapEMAWeights": "it swaps the real model's weights around evaluation on a worker",
}

# Batch-level callbacks whose check is meaningful on an epoch's metrics.
EPOCH_DRIVEN = ("TerminateOnNaN",)


class CallbackError(ValueError):
    """A callback that cannot run at epoch boundaries on the driver."""


def check_callbacks(callbacks: Any) -> list[Any]:
    """Validates ``fit(callbacks=...)`` before any training; returns them as a list.

    Raises:
        TypeError: Not a list of ``keras.callbacks.Callback``.
        CallbackError: A callback needs per-batch hooks or the real model (it is named).
    """
    import keras

    if callbacks is None:
        return []
    if isinstance(callbacks, keras.callbacks.Callback):
        callbacks = [callbacks]
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of keras.callbacks.Callback, "
                        f"got {type(callbacks).__name__}")
    base = keras.callbacks.Callback
    for cb in callbacks:
        if not isinstance(cb, base):
            raise TypeError(f"callbacks must be keras.callbacks.Callback instances, got "
                            f"{type(cb).__name__}")
        name = type(cb).__name__
        for cls in type(cb).__mro__:
            if cls.__name__ in REFUSED and cls.__module__.startswith("keras"):
                raise CallbackError(f"callback {name} cannot run in a model-hopping search: "
                                    f"{REFUSED[cls.__name__]}")
        if name in EPOCH_DRIVEN:
            continue
        batch = [h for h in BATCH_HOOKS if getattr(type(cb), h) is not getattr(base, h)]
        if batch:
            raise CallbackError(
                f"callback {name} overrides per-batch hooks ({', '.join(batch)}); trials train "
                "in sub-epochs on the workers, so only epoch-level hooks (on_train_begin/end, "
                "on_epoch_begin/end) run, on the driver. Move its logic to on_epoch_end.")
        try:
            copy.deepcopy(cb)
        except Exception as e:  # noqa: BLE001 - any failure means it cannot be copied per trial
            raise CallbackError(f"callback {name} cannot be deep-copied (one copy per trial "
                                f"is needed): {type(e).__name__}: {e}") from None
    return list(callbacks)
