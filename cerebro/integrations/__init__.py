"""Optional integrations with other tools; each imports its tool only when it is used.

* :class:`~cerebro.integrations.mlflow_logger.MlflowLogger`: a search as an MLflow run, its
  trials as nested runs (``pip install cerebro-nas[mlflow]``).
"""

from cerebro.integrations.mlflow_logger import MlflowLogger

__all__ = ["MlflowLogger"]
