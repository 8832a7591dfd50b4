"""One search runner under both front ends (``cerebro.tune`` and ``cerebro.nas``).

A front end turns its search algorithm into a ``TrialSource``; the ``SearchRunner`` owns
everything else once: building each trial's model and writing its spec, the model hopper,
listeners (console, records, MLflow), and assembling the ``ModelSelectionResult``.
"""

from cerebro.search.runner import RunnerSettings, SearchRunner
from cerebro.search.source import DONE, WAIT, BuiltModel, TrialRequest, TrialSource

__all__ = ["DONE", "WAIT", "BuiltModel", "RunnerSettings", "SearchRunner", "TrialRequest",
           "TrialSource"]
