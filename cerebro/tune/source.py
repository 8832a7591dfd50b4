"""The ``TrialSource`` over ``cerebro.tune``'s searchers (grid, random, hyperopt's TPE)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from cerebro.engine.runs import Objective
from cerebro.metrics import is_maximized
from cerebro.search.callbacks import optimizer_learning_rate
from cerebro.search.source import DONE, Ask, BuiltModel, TrialRequest, TrialSource
from cerebro.wire import ModelStatus

if TYPE_CHECKING:
    from cerebro.tune.search import ModelSelection
    from cerebro.tune.searchers import Searcher


class SearcherSource(TrialSource):
    """Hands a searcher's configurations to the runner and tells it the outcomes.

    Args:
        selection: The ``GridSearch``/``RandomSearch``/``TPESearch`` being run.
        searcher: Its searcher.
        info: The prepared dataset (for checking each estimator's inputs).
        first: A configuration already asked for (the search checked it up front).
    """

    def __init__(self, selection: ModelSelection, searcher: Searcher, info: Any,
                 first: Optional[tuple[int, dict[str, Any]]] = None) -> None:
        self.sel, self.searcher, self.info = selection, searcher, info
        metric = f"val_{selection.evaluation_metric}"
        self.objective = Objective(metric, "max" if is_maximized(metric) else "min")
        self.budget = getattr(searcher, "num_models", None) or \
            len(getattr(searcher, "points", [])) or None
        self.name = type(searcher).__name__
        self._pending = [first] if first else []
        self._params: dict[str, dict[str, Any]] = {}
        self._point_of: dict[str, Optional[int]] = {}

    def ask(self) -> Ask:
        nxt = self._pending.pop(0) if self._pending else self.searcher.ask()
        if nxt is None:
            return DONE
        return self._request(nxt[0], nxt[1])

    def add(self, params: dict[str, Any]) -> TrialRequest:
        return self._request(None, dict(params))

    def _request(self, point_id: Optional[int], params: dict[str, Any]) -> TrialRequest:
        index = len(self._params)
        model_id = f"{self.sel.run_id}_{index:03d}"
        self._params[model_id], self._point_of[model_id] = params, point_id
        return TrialRequest(model_id, params, self.sel.num_epochs,
                            lambda seed: self._build(params, seed), seed_key=str(index))

    def _build(self, params: dict[str, Any], seed: int) -> BuiltModel:
        import keras

        from cerebro.keras.cost import cost_hint
        from cerebro.tune.search import model_io

        keras.utils.set_random_seed(seed)  # the model's initial weights
        est = self.sel._estimator(params)
        io = model_io(est, self.info.columns, self.sel.feature_columns, self.sel.label_columns)
        spec = est.to_bytes()  # compiles the model: its optimizer's rate is known now
        return BuiltModel(spec, est.batch_size, io, custom_objects=est.custom_objects,
                          transformation_fn=est.transformation_fn_bytes(),
                          learning_rate=optimizer_learning_rate(est.model),
                          callbacks=tuple(est.callbacks), cost_hint=cost_hint(est.model))

    def finish(self, model_id: str, status: ModelStatus, best_value: Optional[float] = None,
               error: str = "", reason: str = "") -> None:
        """Tells the searcher the trial's best value (a trial stopped early: the best of the
        epochs it trained)."""
        point = self._point_of.get(model_id)
        if point is None:  # added by hand: the searcher is not told
            return
        loss = None
        if status != ModelStatus.FAILED and best_value is not None:
            loss = -best_value if self.objective.direction == "max" else best_value
        self.searcher.tell(point, loss)

    def params(self, model_id: str) -> dict[str, Any]:
        return self._params.get(model_id, {})
