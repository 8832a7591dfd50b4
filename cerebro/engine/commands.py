"""Human-in-the-loop commands: stop, resume or add a model while the search runs.

Commands come from the dashboard through the records database (polled off the dispatch
path by the ``EventBus``); each takes effect at the next sub-epoch boundary and is
acknowledged with the outcome. A command that cannot apply is rejected, never raised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Optional

from cerebro.wire import Command, ModelResumed, ModelStatus

if TYPE_CHECKING:
    from cerebro.engine.controller import Controller
    from cerebro.engine.hopper import ModelHopper


def apply_all(hopper: ModelHopper, controller: Controller, commands: Sequence[Command]) -> None:
    """Applies queued commands; each is acknowledged with ``ack(ok, message, model_id)``."""
    for cmd in commands:
        try:
            model_id, message = apply(hopper, controller, cmd.action, cmd.model_id,
                                      cmd.params, cmd.epochs)
        except Exception as e:  # noqa: BLE001 - a bad command must not end the search
            if cmd.ack is not None:
                cmd.ack(False, str(e) if isinstance(e, ValueError)
                        else f"{type(e).__name__}: {e}")
            continue
        if cmd.ack is not None:
            cmd.ack(True, message, model_id)


def apply(hopper: ModelHopper, controller: Controller, action: str,
          model_id: Optional[str] = None, params: Optional[Mapping[str, object]] = None,
          epochs: Optional[int] = None) -> tuple[str, str]:
    """Stops, resumes or adds a model.

    ``stop`` takes a running model out (its latest state is kept); ``resume`` gives a
    stopped or finished model ``epochs`` more epochs; ``add`` hands ``params`` to the
    controller's ``add_manual(hopper, params) -> model_id``.

    Returns:
        The model id and a message for the person who asked.

    Raises:
        ValueError: When the command does not apply (unknown model, wrong state...).
    """
    if action == "add":
        new_id = controller.add_manual(hopper, dict(params or {}))
        return new_id, f"added {new_id} with {params}"
    run = hopper.runs.get(model_id or "")
    if run is None:
        raise ValueError(f"no model {model_id!r} in this search")
    in_flight = hopper.in_flight(run.model_id)
    if action == "stop":
        if run.status != ModelStatus.RUNNING:
            raise ValueError(f"{run.model_id} is {run.status}, not running")
        hopper.stop_model(run.model_id, "stopped by hand (dashboard)")
        if not in_flight:  # no visit result will come to report it, so report it now
            hopper.finish_model(run, controller)
        return run.model_id, f"{run.model_id} stopped after {run.epochs_done} epoch(s)"
    if action == "resume":
        if run.status not in (ModelStatus.STOPPED, ModelStatus.DONE) or in_flight:
            raise ValueError(f"{run.model_id} is {run.status}"
                             f"{' and finishing a visit' if in_flight else ''}; "
                             "only a stopped or finished model can resume")
        if not epochs or int(epochs) < 1:
            raise ValueError(f"{run.model_id} has no epochs left; say how many to add")
        run.drop_partial_epoch()
        hopper.extend(run.model_id, int(epochs))
        hopper.emit(ModelResumed(run.model_id, run.epochs_done + int(epochs)))
        return run.model_id, f"{run.model_id} resumes for {int(epochs)} epoch(s)"
    raise ValueError(f"unknown action {action!r}; use stop, resume or add")
