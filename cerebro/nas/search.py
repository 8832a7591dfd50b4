"""One NAS search: validate, prepare, configure the graph from the data, run, collect."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from cerebro._logging import get_logger
from cerebro.nas import dataprep
from cerebro.nas.fitted import FittedSearch
from cerebro.nas.builder import build_trial_model, fixed_values, pin_no_download
from cerebro.nas.settings import nas_stopper
from cerebro.nas.source import OracleSource, trial_id_of
from cerebro.wire import Listener, ModelDone, ModelFailed

if TYPE_CHECKING:
    from cerebro.nas.hphpmodel import HyperHyperModel
    from cerebro.tune.result import ModelSelectionResult

log = get_logger("nas")


def expected_metrics(heads: Any) -> list[str]:
    """The metric names training will report (KerasTuner style: ``x`` and ``val_x``)."""
    import keras

    names = ["loss"]
    for head in heads:
        prefix = f"{head.name}_" if len(heads) > 1 else ""
        if len(heads) > 1:
            names.append(f"{head.name}_loss")
        for m in head.metrics or []:
            m_name = m if isinstance(m, str) else getattr(m, "name", None) or getattr(m, "__name__", "")
            if isinstance(m, keras.metrics.Metric):
                m_name = m.name
            names.append(prefix + str(m_name))
    return names + ["val_" + n for n in names]


def check_objective(objective: Any, heads: Any) -> None:
    import keras_tuner as kt

    names = [o.name if isinstance(o, kt.Objective) else o
             for o in (objective if isinstance(objective, list) else [objective])]
    known = expected_metrics(heads)
    for name in names:
        if name not in known:
            raise ValueError(f"objective {name!r} is not a metric this graph reports; "
                             f"choose one of {known}")


def run_search(am: HyperHyperModel, df: Any, epochs: int, input_shape: Any, batch_size: int,
               validation_df: Any = None, callbacks: tuple[Any, ...] = (), verbose: Any = None,
               early_stopping: Any = "auto") -> tuple[ModelSelectionResult, FittedSearch]:
    """Runs the search of ``am`` (a bound ``HyperHyperModel``) on ``df``.

    ``callbacks``: checked epoch-level Keras callbacks, run per trial on the driver;
    ``verbose``: overrides ``resource_bind``'s; ``early_stopping``: a checked setting
    (``cerebro.nas.settings.nas_stopper``).

    Returns:
        The ``ModelSelectionResult`` and the ``FittedSearch`` that ``predict``/``evaluate``
        use.
    """
    from cerebro.engine import Phases
    from cerebro.search import RunnerSettings, SearchRunner
    from cerebro.search.runner import quiet_console

    phases = Phases()  # the start-up's phases, from here: result.stats["phases"]
    res, cfg, tuner = am.resources, am.tuner_settings, am.tuner
    if res is None or cfg is None or tuner is None:
        raise RuntimeError("run_search needs a HyperHyperModel after resource_bind, "
                           "tuner_bind and its tuner's creation (HyperHyperModel.fit)")
    check_objective(cfg.objective, am.heads)  # before any Spark job
    quiet_console(res.backend, res.verbose if verbose is None else verbose)
    data = dataprep.prepare(am, df, epochs, input_shape, batch_size, validation_df,
                            phases=phases)
    seed = am.seed or 0
    if am.seed is not None:
        np.random.seed(am.seed)  # AutoKeras's greedy oracle draws from numpy's global RNG
    oracle = tuner.oracle
    pin = _prepare_oracle(am, data)
    source = OracleSource(oracle, _trial_builder(am, data), data.io, batch_size, epochs,
                          pin_hps=pin)
    import keras_tuner as kt

    stopper = nas_stopper(early_stopping, isinstance(oracle, kt.oracles.HyperbandOracle))
    settings = RunnerSettings(
        project=am.project_name, parallelism=cfg.parallelism or 2 * res.backend.num_workers,
        output_names=[f"{t.source_column}__pred" for t in data.targets],
        evaluation_metric=res.evaluation_metric, seed=seed,
        verbose=res.verbose if verbose is None else verbose, kind="nas",
        on_existing="overwrite" if cfg.overwrite else "resume", callbacks=tuple(callbacks),
        stopper=stopper,
        strict_order=cfg.strict_order,
        records=res.records, mlflow=res.mlflow, phases=phases,
        listeners=(*res.listeners, _StatePusher(am)),
        config={"epochs": epochs, "batch_size": batch_size,
                "space": [h.get_config() for h in oracle.get_space().space]})
    result = SearchRunner(res.backend, res.store, source, settings, data.info,
                          data.columns).run()
    for model_id, model in result.models.items():
        tuner.register_model(trial_id_of(model_id), model)
    tuner.save()
    _push_state(am)
    # The fork's result: metrics[model_id] is the history plus its KerasTuner "trial".
    result.metrics = {m: {**h, "trial": oracle.trials.get(trial_id_of(m))}
                      for m, h in result.metrics.items()}
    return result, FittedSearch.of(result, data)


def _prepare_oracle(am: Any, data: dataprep.NasData) -> Callable[[Any], Any]:
    """Registers the graph's hyperparameters with the oracle (the user's ``Fixed`` values
    and no downloads pinned), clears the project's runs on ``overwrite`` and saves the
    tuner; returns the pinning that every trial's values go through."""
    from cerebro.storage.layout import RunLayout

    res, cfg, oracle = am.resources, am.tuner_settings, am.tuner.oracle
    hp = oracle.get_space()
    build_trial_model(am.graph, hp, data.sample_inputs)  # registers the graph's hyperparameters
    fixed = fixed_values(cfg.hyperparameters)

    def pin(hps: Any) -> Any:
        return pin_no_download(hps, fixed)

    oracle.update_space(pin(hp))
    if cfg.overwrite:
        gone = RunLayout(res.store, am.project_name).clear()
        if gone:
            log.warning("overwrite=True: deleted %d trial run(s) of project %r (%s)", len(gone),
                     am.project_name, ", ".join(gone[:5]) + (" ..." if len(gone) > 5 else ""))
    am.tuner.save()  # from now on a rerun with overwrite=False resumes this search
    _push_state(am)
    return pin


def _trial_builder(am: Any, data: dataprep.NasData) -> Callable[[Any, int], Any]:
    """``build(hps, seed)``: a trial's compiled model (AutoKeras's ``max_model_size`` kept)."""
    max_size = getattr(am, "max_model_size", None)

    def build(hps: Any, seed_value: int) -> Any:
        import keras

        keras.utils.set_random_seed(seed_value)  # the trial's initial weights
        model = build_trial_model(am.graph, hps, data.sample_inputs)
        if max_size is not None and model.count_params() > max_size:  # AutoKeras's rule
            raise ValueError(f"the model has {model.count_params()} parameters, more than "
                             f"max_model_size={max_size}")
        return model

    return build


def _push_state(am: Any) -> None:
    """Copies the KerasTuner state to a remote store (a no-op on a local one)."""
    from cerebro.nas import tuner_state

    if not am.directory:
        tuner_state.push(am.resources.store, am.project_name)


class _StatePusher(Listener):
    """A listener that copies the KerasTuner state to a remote store as trials end (the
    oracle has saved the trials before this one by then), so a crash loses little."""

    def __init__(self, am: Any) -> None:
        from cerebro.nas import tuner_state

        self.am = am
        self.remote = not am.directory and not tuner_state.is_local(am.resources.store)

    def _push(self) -> None:
        from cerebro.nas import tuner_state

        if not self.remote:
            return
        try:
            tuner_state.push(self.am.resources.store, self.am.project_name)
        except Exception as e:  # noqa: BLE001 - the end of the search pushes again
            log.warning("could not copy the tuner state to the store: %s", e)

    def on_model_done(self, event: ModelDone) -> None:
        self._push()

    def on_model_failed(self, event: ModelFailed) -> None:
        self._push()
