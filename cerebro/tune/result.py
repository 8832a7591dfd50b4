"""``ModelSelectionResult``: every model's history, the best model, tables and plots."""

from __future__ import annotations

from typing import Optional

from cerebro.metrics import is_maximized, ranking_key

__all__ = ["ModelSelectionResult", "is_maximized", "ranking_key"]


class ModelSelectionResult:
    """The outcome of a model selection (Cerebro's API, plus tables and plots).

    Args:
        best_model: The best ``SparkModel`` by ``val_<evaluation_metric>`` at its last epoch.
        metrics: The best model's history.
        all_models: ``{model_id: SparkModel}``.
        output_columns: Names of the prediction columns ``transform`` adds.
        evaluation_metric: The metric that ranked the models.
        statuses: ``{model_id: "DONE" | "STOPPED" | "FAILED"}``.
        errors: ``{model_id: error message}`` of failed models.
        stats: Engine figures (utilisation, hop overhead, ...).
    """

    def __init__(self, best_model, metrics, all_models, output_columns, evaluation_metric="loss",
                 statuses=None, errors=None, stats=None):
        self.best_model = best_model
        self.metrics = metrics
        self.all_models = all_models
        self.output_columns = output_columns
        self.evaluation_metric = evaluation_metric
        self.statuses = dict(statuses or {})
        self.errors = dict(errors or {})
        self.stats = dict(stats or {})

    def get_best_model(self):
        return self.best_model

    def get_best_model_history(self) -> dict:
        return self.metrics

    def get_all_models(self) -> dict:
        return self.all_models

    def get_all_model_history(self) -> dict:
        return {k: m.history for k, m in self.all_models.items()}

    def transform(self, df):
        """Adds the best model's prediction column(s) to ``df`` (distributed)."""
        return self.best_model.transform(df)

    def to_pandas(self):
        """One row per model: parameters, status, epochs and final metrics, best first."""
        import pandas as pd

        rows = []
        for mid, m in self.all_models.items():
            row = {"model_id": mid, "status": self.statuses.get(mid, "DONE"),
                   "epochs": max((len(v) for v in m.history.values()), default=0)}
            row.update({f"param_{k}": v for k, v in getattr(m, "params", {}).items()})
            row.update({k: (v[-1] if v else None) for k, v in m.history.items()})
            if mid in self.errors:
                row["error"] = self.errors[mid]
            rows.append(row)
        df = pd.DataFrame(rows)
        col = f"val_{self.evaluation_metric}"
        if col in df.columns:
            key = ranking_key(col)
            df = df.iloc[sorted(range(len(df)), key=lambda i: key(df[col].iloc[i]))]
        return df.reset_index(drop=True)

    def plot_history(self, path: Optional[str] = None, metrics: Optional[list[str]] = None):
        """Learning curves, one panel per metric (see :func:`cerebro.tune.plots.plot_history`)."""
        from cerebro.tune.plots import plot_history

        return plot_history(self, path, metrics)
