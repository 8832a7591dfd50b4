"""Neural architecture search: AutoKeras graphs searched on Spark by model hopping."""

from cerebro.nas.builder import PretrainedWeightsError
from cerebro.nas.hphpmodel import HyperHyperModel, HyperModel

__all__ = ["HyperHyperModel", "HyperModel", "PretrainedWeightsError"]
