"""``HyperHyperModel``'s settings as typed records (what ``resource_bind`` and ``tuner_bind``
were given), instead of dicts that other modules read, and the checks of those arguments."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

from cerebro.wire import Listener
from cerebro.search.stopping import MedianStoppingRule, Stopper, resolve_stopper

if TYPE_CHECKING:
    from cerebro.backend.spark import SparkBackend
    from cerebro.storage import Store

AUTO = "auto"


def check_early_stopping(value: Any) -> Any:
    """Checks a NAS ``early_stopping=`` setting (``"auto"`` or what ``resolve_stopper``
    takes); returns it.

    Raises:
        ValueError: Not a choice (the message names the value and the choices).
    """
    if isinstance(value, str) and value == AUTO:
        return value
    try:
        resolve_stopper(value)
    except ValueError:
        raise ValueError(f"early_stopping={value!r} is not a choice: use 'auto' (the median "
                         "rule, off under Hyperband), 'median', 'asha', None (off) or a "
                         "cerebro.search.stopping.Stopper instance") from None
    return value


def check_tuner_args(tuner: Any, hyperparameters: Any, parallelism: Optional[int],
                     max_trials: Optional[int], max_model_size: Optional[int],
                     overwrite: Optional[bool], early_stopping: Any,
                     strict_order: bool = False) -> Any:
    """Checks ``tuner_bind``'s arguments (see there); returns the tuner's canonical name
    (or the ``Oracle`` given).

    Raises:
        ValueError: An unknown tuner or a number that is not a positive int.
        TypeError: Hyperparameters or ``overwrite`` of the wrong type.
    """
    import keras_tuner as kt

    from cerebro.nas import compat
    from cerebro.nas.oracles import TUNERS

    tuner = compat.canonical_tuner(tuner)
    if isinstance(tuner, str) and tuner not in TUNERS:
        raise ValueError(f"unknown tuner {tuner!r}; choose one of {list(TUNERS)} (or the "
                         f"fork's names {sorted(compat.TUNER_ALIASES)}) or pass a "
                         "keras_tuner.Oracle")
    if hyperparameters is not None and not isinstance(hyperparameters, kt.HyperParameters):
        raise TypeError("hyperparameters must be a keras_tuner.HyperParameters")
    if parallelism is not None and (not isinstance(parallelism, int) or parallelism < 1):
        raise ValueError(f"parallelism must be a positive int, got {parallelism!r}")
    if max_trials is not None and (not isinstance(max_trials, int) or max_trials < 1):
        raise ValueError(f"max_trials must be a positive int, got {max_trials!r}")
    if max_model_size is not None and (isinstance(max_model_size, bool) or
                                       not isinstance(max_model_size, int) or
                                       max_model_size < 1):
        raise ValueError(f"max_model_size must be a positive int, got {max_model_size!r}")
    if overwrite is not None and not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    if not isinstance(strict_order, bool):
        raise TypeError(f"strict_order must be True or False, got {strict_order!r}")
    check_early_stopping(early_stopping)
    return tuner


def nas_stopper(value: Any, hyperband: bool) -> Optional[Stopper]:
    """The stopper of a NAS search: ``"auto"`` is ``MedianStoppingRule()`` (grace 1 epoch,
    3 other trials), or none under Hyperband."""
    if isinstance(value, str) and value == AUTO:
        return None if hyperband else MedianStoppingRule()
    return resolve_stopper(value)


@dataclasses.dataclass
class Resources:
    """What ``resource_bind`` binds: where and on what the search runs.

    Attributes:
        backend: A ``cerebro.backend.SparkBackend``.
        store: A ``cerebro.storage.Store``.
        feature_columns: One column per input node (or stacked scalars for one structured
            input).
        label_columns: One column per head.
        evaluation_metric: The metric the result reports.
        validation: Fraction of rows held out, or a bool/int column marking them.
        verbose: 0 silent, 1 progress.
        records: Where the search is recorded (``None``: ``<store>/cerebro.db`` unless
            ``CEREBRO_RECORDS`` says otherwise; ``False``: off; a SQLAlchemy URL or path).
        mlflow: MLflow tracking URI or ``True`` to log to MLflow (``None``: ``CEREBRO_MLFLOW``).
        listeners: More listeners of the search's events: ``cerebro.wire.Listener`` objects,
            or plain ``fn(kind, payload)`` callables (``cerebro.wire.CallableListener``).
        sample_weight_col: A column of per-row sample weights, or ``None``.
    """

    backend: SparkBackend
    store: Store
    feature_columns: list[str]
    label_columns: list[str]
    evaluation_metric: str = "loss"
    validation: Any = 0.2
    verbose: int = 1
    records: Any = None
    mlflow: Any = None
    listeners: Sequence[Listener] = ()
    sample_weight_col: Optional[str] = None


@dataclasses.dataclass
class TunerSettings:
    """What ``tuner_bind`` chose: the search algorithm and its budget.

    Attributes:
        tuner: A tuner name or a ``keras_tuner.Oracle``.
        hyperparameters: The user's ``keras_tuner.HyperParameters`` (its Fixed values stay).
        objective: The objective (e.g. ``"val_accuracy"``).
        max_trials: The trial budget.
        overwrite: Start the project afresh.
        parallelism: Trials trained at once (``None``: twice the workers).
        kwargs: Options for the oracle (e.g. ``exploration``).
        early_stopping: ``"auto"`` (the default: the median stopping rule, except under
            Hyperband, which already ends trials early by its rounds), ``"median"``,
            ``"asha"``, ``None`` (off) or a ``cerebro.search.stopping.Stopper``.
        strict_order: Seeded strict visit order instead of the work-conserving default.
    """

    tuner: Any = "greedy"
    hyperparameters: Any = None
    objective: Any = "val_loss"
    max_trials: int = 100
    overwrite: bool = False
    parallelism: Optional[int] = None
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    early_stopping: Any = AUTO
    strict_order: bool = False

    @property
    def objective_name(self) -> str:
        obj = self.objective
        if isinstance(obj, list):
            return "multi_objective"
        return str(getattr(obj, "name", obj))
