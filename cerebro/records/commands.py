"""The hopper's command source: the dashboard's pending actions for one experiment.

:class:`CommandSource` is mixed into :class:`~cerebro.records.recorder.Recorder`:
:meth:`CommandSource.commands` is what ``ModelHopper(commands=...)`` polls, and each command's
``ack`` records what became of it (which bumps the change counter, so the dashboard sees it).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Optional

from sqlalchemy import select

from cerebro._logging import get_logger
from cerebro.records.models import APPLIED, PENDING, REJECTED, Trial, utcnow
from cerebro.records.models import Command as CommandRow
from cerebro.wire import Ack, Command

log = get_logger("records")


class CommandSource:
    """Reads and acknowledges the ``commands`` rows of ``self.experiment_id``."""

    db: Any  # a RecordsDB
    experiment_id: int

    def _tx(self) -> AbstractContextManager[tuple[Any, Any]]:
        """A write transaction ``(session, experiment)`` (the Recorder provides it)."""
        raise NotImplementedError

    def commands(self) -> list[Command]:
        """Pending commands for this experiment, oldest first, as the hopper applies them.

        Each ``Command``'s ``ack(ok, message, model_id=None)`` marks its row ``APPLIED`` or
        ``REJECTED``. A resume
        without ``epochs`` gets the trial's remaining planned epochs.
        """
        try:
            with self.db.session() as s:
                rows = s.scalars(select(CommandRow).where(
                    CommandRow.experiment_id == self.experiment_id,
                    CommandRow.status == PENDING).order_by(CommandRow.id)).all()
                out = []
                for c in rows:
                    epochs = c.epochs
                    if c.action == "resume" and epochs is None and c.model_id:
                        t = s.scalar(select(Trial).where(Trial.experiment_id == self.experiment_id,
                                                         Trial.model_id == c.model_id))
                        if t is not None and t.epochs_planned > t.epochs_done:
                            epochs = t.epochs_planned - t.epochs_done
                    out.append(Command(c.action, c.model_id, dict(c.params or {}), epochs,
                                       c.id, self._acker(c.id)))
                return out
        except Exception as e:  # noqa: BLE001
            log.warning("could not read commands: %s", e)
            return []

    def _acker(self, command_id: int) -> Ack:
        def ack(ok: bool, message: str = "", model_id: Optional[str] = None) -> None:
            try:
                with self._tx() as (s, _):  # a change: the dashboard's next delta shows it
                    c = s.get(CommandRow, command_id)
                    c.status = APPLIED if ok else REJECTED
                    c.message, c.applied_at = message, utcnow()
                    if model_id:
                        c.model_id = model_id
            except Exception as e:  # noqa: BLE001
                log.warning("could not acknowledge command %d: %s", command_id, e)
            (log.info if ok else log.warning)("command %d %s: %s", command_id,
                                              "applied" if ok else "rejected", message)
        return ack

