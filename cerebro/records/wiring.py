"""How a search plugs its records in: its listeners and the on/off switch.

Records are on by default, in the store (``<store root>/cerebro.db``). The environment
variable ``CEREBRO_RECORDS`` overrides that: a SQLAlchemy URL (``postgresql://…``) or a
path puts them elsewhere, ``off`` turns them off. A search object may also carry a
``records`` attribute with the same meaning.

MLflow logging is off by default: ``CEREBRO_MLFLOW=<tracking URI>`` (or a search's ``mlflow``
setting) adds a :class:`~cerebro.integrations.mlflow_logger.MlflowLogger` to the fan-out.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Callable, Optional

from cerebro._logging import get_logger
from cerebro.wire import Command, Listener

log = get_logger("records")

OFF = ("0", "off", "false", "no", "none")


class SearchRecording:
    """What a search needs from its records: listeners, a command source and an end.

    Everything is a no-op when records are off, so that the search code has no branches.

    Attributes:
        listeners: The recorder and the MLflow logger, those that are on (for the
            search's ``EventBus``).
        commands: The dashboard's pending commands (``None`` when records are off).
    """

    def __init__(self, recorder: Any, mlflow: Any = None) -> None:
        self.recorder = recorder
        self.mlflow = mlflow
        self.listeners: list[Listener] = [x for x in (recorder, mlflow) if x is not None]
        self.commands: Optional[Callable[[], Sequence[Command]]] = \
            recorder.commands if recorder else None

    @property
    def experiment_id(self) -> Optional[int]:
        return self.recorder.experiment_id if self.recorder else None

    def done(self, stats: Optional[dict[str, Any]] = None) -> None:
        """The hopper finished normally; ``stats`` are its figures."""
        if self.recorder:
            self.recorder.done(stats)
        if self.mlflow:
            self.mlflow.done(stats)

    def set_stats(self, stats: dict[str, Any]) -> None:
        """Keeps the engine figures with the experiment."""
        if self.recorder:
            self.recorder.set_stats(stats)

    def close(self) -> None:
        """Ends the records (``FAILED`` unless :meth:`done` was called)."""
        if self.recorder:
            self.recorder.close()
        if self.mlflow:
            self.mlflow.close()

    def finish(self, result: Any) -> None:
        """The search's result is known (after :meth:`close`): MLflow gets the best model."""
        if self.mlflow:
            self.mlflow.finish(result)


def record_search(store: Any, name: str, *, records: Any = None, mlflow: Any = None,
                  **recorder_kwargs: Any) -> SearchRecording:
    """Opens the records of a search that is about to start.

    Args:
        store: The search's store (default place of the records).
        name: The experiment's name.
        records: ``None`` (environment / store), a URL or path, a ``RecordsDB``, or ``False``.
        mlflow: ``None`` (the ``CEREBRO_MLFLOW`` environment variable decides), a tracking URI,
            ``True``, ``False`` or an ``MlflowLogger``: MLflow logging, off by default.
        **recorder_kwargs: ``kind``, ``metric``, ``direction``, ``num_workers``, ``budget``,
            ``params``, ``config`` and ``on_existing`` (``"resume"``: a resumed search
            reopens its experiment; ``"overwrite"``: an ``overwrite=True`` search replaces
            it) for :class:`~cerebro.records.recorder.Recorder`.

    Returns:
        A :class:`SearchRecording` (records off when they cannot be opened: logged).

    Raises:
        ImportError: MLflow logging was asked for and MLflow is not installed.
    """
    from cerebro.records.recorder import Recorder

    tracker = _mlflow_logger(mlflow, name, recorder_kwargs)
    target = records if records is not None else os.environ.get("CEREBRO_RECORDS") or store
    if target is False or (isinstance(target, str) and target.strip().lower() in OFF):
        return SearchRecording(None, tracker)
    try:
        recorder = Recorder(target, name, **recorder_kwargs)
    except Exception as e:  # noqa: BLE001 - a search runs without records rather than not at all
        log.warning("experiment records are off for this search: %s", e)
        recorder = None
    return SearchRecording(recorder, tracker)


def _mlflow_logger(setting: Any, name: str, info: dict[str, Any]) -> Any:
    """The search's started ``MlflowLogger``, or ``None`` (not asked for, or cannot start)."""
    if setting is None and not os.environ.get("CEREBRO_MLFLOW"):
        return None  # the common case: MLflow is not even looked at
    from cerebro.integrations.mlflow_logger import from_setting

    tracker = from_setting(setting)  # an ImportError here says how to install MLflow
    if tracker is None:
        return None
    try:
        return tracker.start(name, **{k: v for k, v in info.items() if k in (
            "params", "kind", "metric", "num_workers", "budget", "config")})
    except Exception as e:  # noqa: BLE001 - a search runs without MLflow rather than not at all
        log.warning("MLflow logging is off for this search: %s", e)
        return None
