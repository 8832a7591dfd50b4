"""Cerebro: many Keras models trained at once on Spark by model hopper parallelism (MOP),
with AutoKeras neural architecture search on top (``cerebro.nas``)."""

import os as _os

# Keras 3 picks its backend at import time. Default to torch (CPU) unless the user chose.
_os.environ.setdefault("KERAS_BACKEND", "torch")

__version__ = "0.1.0"
