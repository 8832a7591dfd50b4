"""Keras integration: ``SparkEstimator`` and ``SparkModel``."""

from cerebro.keras.estimator import SparkEstimator, SparkModel

__all__ = ["SparkEstimator", "SparkModel"]
