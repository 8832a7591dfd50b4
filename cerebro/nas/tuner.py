"""``SparkTuner``: KerasTuner's ``BaseTuner`` over our oracle, for its summaries and state.

Execution does not go through ``BaseTuner.search`` (one trial at a time in one process):
the NAS bridge runs trials concurrently on the model hopper. This class keeps KerasTuner's
project directory, ``search_space_summary()``, ``results_summary()`` and best-model API.
"""

from __future__ import annotations

from typing import Any

import keras_tuner as kt


class SparkTuner(kt.engine.base_tuner.BaseTuner):  # type: ignore[misc]  # untyped upstream
    """A KerasTuner tuner whose trials run on Cerebro's model hopper."""

    def __init__(self, oracle: Any, hypermodel: Any, directory: str, project_name: str,
                 overwrite: bool = False) -> None:
        self._models: dict[str, Any] = {}
        # KerasTuner builds its hypermodel at construction to find the space; the graph can
        # only be built once it is configured from the data (in fit()), so KerasTuner gets
        # none (it then skips that step: trials run through run_trial, overridden below).
        super().__init__(oracle=oracle, hypermodel=None, directory=directory,
                         project_name=project_name, overwrite=overwrite)
        self.graph = hypermodel

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("SparkTuner trials run through HyperHyperModel.fit(), not search()")

    def register_model(self, trial_id: str, spark_model: Any) -> None:
        """Records the trained model of a trial (a ``cerebro.keras.SparkModel``)."""
        self._models[trial_id] = spark_model

    def load_model(self, trial: Any) -> Any:
        model = self._models.get(trial.trial_id)
        if model is None:
            raise ValueError(f"no trained model for trial {trial.trial_id}")
        return model.keras()
