"""Model selection: hp_* helpers, GridSearch, RandomSearch, TPESearch and their result."""

from cerebro.tune.result import ModelSelectionResult
from cerebro.tune.search import GridSearch, ModelSelection, RandomSearch, TPESearch
from cerebro.tune.space import hp_choice, hp_loguniform, hp_qloguniform, hp_quniform, hp_uniform

__all__ = ["GridSearch", "RandomSearch", "TPESearch", "ModelSelection", "ModelSelectionResult",
           "hp_choice", "hp_uniform", "hp_quniform", "hp_loguniform", "hp_qloguniform"]
