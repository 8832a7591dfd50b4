"""``ModelSelectionResult``: every model's history, the best model, tables and plots."""

from __future__ import annotations

from typing import Mapping, Optional

from cerebro.metrics import is_maximized, ranking_key

__all__ = ["ModelSelectionResult", "is_maximized", "ranking_key"]


class ModelSelectionResult:
    """The outcome of a model selection (Cerebro's API, plus tables and plots).

    Upstream Cerebro's shapes hold: ``get_all_models()`` is a list (in the order the models
    were added) and ``metrics`` maps every model id to that model's history. ``models``
    (a dict by model id) and ``get_model(model_id)`` are this project's additions.

    Args:
        best_model: The best ``SparkModel`` by ``val_<evaluation_metric>`` at its last epoch.
        metrics: ``{model_id: history}`` of every model; the best model's history alone (what
            the searches passed before) is also accepted. Either way ``.metrics`` is built
            from the models' own histories, keyed by model id.
        all_models: The ``SparkModel``s: ``{model_id: SparkModel}`` or a list.
        output_columns: Names of the prediction columns ``transform`` adds.
        evaluation_metric: The metric that ranked the models.
        statuses: ``{model_id: "DONE" | "STOPPED" | "FAILED"}``.
        errors: ``{model_id: error message}`` of failed models.
        stats: Engine figures (utilisation, hop overhead, ...).
        stop_reasons: ``{model_id: why it was stopped}`` of the models stopped early
            (status ``STOPPED``: by early stopping, a callback or a person).
    """

    def __init__(self, best_model, metrics, all_models, output_columns, evaluation_metric="loss",
                 statuses=None, errors=None, stats=None, stop_reasons=None) -> None:
        if isinstance(all_models, Mapping):
            self.models = dict(all_models)
        else:
            self.models = {m.model_id: m for m in all_models}
        if best_model is not None and best_model.model_id not in self.models:
            raise ValueError(f"best_model {best_model.model_id!r} is not among all_models")
        self.best_model = best_model
        self.metrics = {mid: m.history for mid, m in self.models.items()}
        self.output_columns = list(output_columns or [])
        self.evaluation_metric = evaluation_metric
        self.statuses = dict(statuses or {})
        self.errors = dict(errors or {})
        self.stats = dict(stats or {})
        self.stop_reasons = dict(stop_reasons or {})

    @property
    def all_models(self) -> list:
        """Every model, as a list (upstream's attribute)."""
        return list(self.models.values())

    def get_best_model(self):
        return self.best_model

    def get_history(self) -> dict:
        """The best model's history (upstream's short name)."""
        return self.get_best_model_history()

    def get_best_model_history(self) -> dict:
        return self.best_model.history

    def get_all_models(self) -> list:
        """Every ``SparkModel``, in the order the search added them (upstream: a list)."""
        return self.all_models

    def get_model(self, model_id: str):
        """The ``SparkModel`` with this id."""
        try:
            return self.models[model_id]
        except KeyError:
            raise KeyError(f"no model {model_id!r}; the models are {list(self.models)}") from None

    def get_all_model_history(self) -> dict:
        """``{model_id: history}`` of every model (upstream's shape, the same as ``metrics``)."""
        return {k: m.history for k, m in self.models.items()}

    def set_output_columns(self, output_columns):
        """Names the prediction columns of every model; returns the result (for chaining)."""
        for m in self.models.values():
            m.setOutputCols(output_columns)
        self.output_columns = list(output_columns)
        return self

    def keras(self):
        """The best model as a compiled ``keras.Model`` with its trained weights."""
        return self.best_model.keras()

    def transform(self, df):
        """Adds the best model's prediction column(s) to ``df`` (distributed)."""
        return self.best_model.transform(df)

    def to_pandas(self):
        """One row per model, the best first: its parameters, status, epochs, final metrics,
        ``best_<objective>`` (its best epoch's value, which ranks it, as everywhere else),
        ``stop_reason`` (why a ``STOPPED`` model was stopped, else empty) and ``error`` (why a
        failed one failed, else empty)."""
        import pandas as pd

        col = f"val_{self.evaluation_metric}"
        key = ranking_key(col)
        rows = []
        for mid, m in self.models.items():
            row = {"model_id": mid, "status": self.statuses.get(mid, "DONE"),
                   "epochs": max((len(v) for v in m.history.values()), default=0)}
            row.update({f"param_{k}": v for k, v in getattr(m, "params", {}).items()})
            row.update({k: (v[-1] if v else None) for k, v in m.history.items()})
            values = m.history.get(col) or []
            row[f"best_{col}"] = min(values, key=key) if values else None
            row["stop_reason"] = self.stop_reasons.get(mid, "")
            row["error"] = self.errors.get(mid, "")
            rows.append(row)
        df = pd.DataFrame(rows)
        if len(df):
            df = df.iloc[sorted(range(len(df)), key=lambda i: key(df[f"best_{col}"].iloc[i]))]
        return df.reset_index(drop=True)

    def plot_history(self, path: Optional[str] = None, metrics: Optional[list[str]] = None):
        """Learning curves, one panel per metric (see :func:`cerebro.tune.plots.plot_history`)."""
        from cerebro.tune.plots import plot_history

        return plot_history(self, path, metrics)
