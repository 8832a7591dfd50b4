"""Keras integration: ``SparkEstimator`` and ``SparkModel``.

``CerebroModel`` is upstream Cerebro's exported name of the trained-model type; here it is
``SparkModel`` itself.
"""

from cerebro.keras.estimator import SparkEstimator, SparkModel

CerebroModel = SparkModel

__all__ = ["CerebroModel", "SparkEstimator", "SparkModel"]
