"""The package logger. Library code logs through ``cerebro`` loggers, never print()."""

from __future__ import annotations

import logging

logger = logging.getLogger("cerebro")
logger.addHandler(logging.NullHandler())


def get_logger(name: str) -> logging.Logger:
    """Returns a child of the ``cerebro`` logger, e.g. ``cerebro.engine``."""
    return logger.getChild(name)
