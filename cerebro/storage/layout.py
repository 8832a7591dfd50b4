"""``RunLayout``: the one place that spells the store keys of a project's runs.

Every project has its own namespace under the store's runs directory::

    runs/<project>/<model_id>/model.keras          the model's spec (architecture, compile,
                                                   initial weights)
    runs/<project>/<model_id>/state-NNNNNN.npz     states after training sub-epochs
    runs/<project>/<model_id>/log.json             history, visit order, latest/best state
    runs/<project>/<model_id>/custom_objects.pkl   the estimator's custom objects, if any
    runs/<project>/<model_id>/transformation_fn.pkl  a per-batch transformation, if any

Which states are kept (:meth:`RunLayout.keep`): while a model trains, its newest two states
(the log may still name the older one if the driver died between a state and its log) and
the state of its best epoch so far; once it has finished, its final and best states.
Clearing (``overwrite=True``) removes this project's runs and nothing else.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from cerebro.storage.base import Store, join_key, validate_model_id

SPEC = "model.keras"
LOG = "log.json"
CUSTOM_OBJECTS = "custom_objects.pkl"
TRANSFORMATION_FN = "transformation_fn.pkl"
_STATE = re.compile(r"^state-(\d{6})\.npz$")
_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")


def check_project_name(project: str) -> str:
    """Returns ``project`` if it can name a directory of the store.

    Raises:
        ValueError: It is empty or holds characters other than letters, digits, ``.``,
            ``_`` and ``-`` (or starts with one of the last three).
    """
    if not isinstance(project, str) or not _PROJECT.match(project):
        raise ValueError(f"project name {project!r} must be letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit")
    return project


class RunLayout:
    """The store keys of one project's runs.

    Args:
        store: The store.
        project: The project's name (a directory under the store's runs directory).
    """

    def __init__(self, store: Store, project: str) -> None:
        self.store = store
        self.project = check_project_name(project)
        self.root = join_key(store.runs_key(), self.project)

    def __repr__(self) -> str:
        return f"RunLayout({self.root!r})"

    # -- keys ---------------------------------------------------------------------------------
    def model_dir(self, model_id: str) -> str:
        return join_key(self.root, validate_model_id(model_id))

    def spec_key(self, model_id: str) -> str:
        return join_key(self.model_dir(model_id), SPEC)

    def log_key(self, model_id: str) -> str:
        return join_key(self.model_dir(model_id), LOG)

    def state_key(self, model_id: str, seq: int) -> str:
        """The state after the model's ``seq``-th training sub-epoch (``seq >= 1``)."""
        return join_key(self.model_dir(model_id), f"state-{int(seq):06d}.npz")

    def custom_objects_key(self, model_id: str) -> str:
        return join_key(self.model_dir(model_id), CUSTOM_OBJECTS)

    def transformation_fn_key(self, model_id: str) -> str:
        return join_key(self.model_dir(model_id), TRANSFORMATION_FN)

    @staticmethod
    def sibling(spec_key: str, name: str) -> str:
        """The key of ``name`` beside a model's spec (what a worker knows of a model)."""
        return spec_key.rsplit("/", 1)[0] + "/" + name

    # -- reading --------------------------------------------------------------------------------
    def model_ids(self) -> list[str]:
        """The models this project has in the store."""
        return [m for m in self.store.listdir(self.root) if self.store.exists(self.log_key(m))
                or self.store.exists(self.spec_key(m))]

    def read_log(self, model_id: str) -> Optional[dict[str, Any]]:
        """The model's ``log.json`` record, or ``None`` if it has none."""
        key = self.log_key(model_id)
        return self.store.read_json(key) if self.store.exists(key) else None

    def write_log(self, model_id: str, record: dict[str, Any]) -> None:
        """Atomically replaces the model's ``log.json`` (compact: written every sub-epoch)."""
        self.store.write_json(self.log_key(model_id), record, indent=None)

    def states(self, model_id: str) -> list[int]:
        """The sequence numbers of the states the store holds for a model, ascending."""
        out = []
        for name in self.store.listdir(self.model_dir(model_id)):
            m = _STATE.match(name)
            if m:
                out.append(int(m.group(1)))
        return sorted(out)

    # -- pruning --------------------------------------------------------------------------------
    def prune(self, model_id: str, live: set[int], seq: int, best_seq: Optional[int],
              finished: bool) -> set[int]:
        """Deletes the states of a model that are no longer needed; returns those kept.

        Args:
            model_id: The model.
            live: The sequence numbers of its states in the store.
            seq: Its newest state (the one its log names).
            best_seq: The state of its best epoch so far, if any.
            finished: The model has no more work: only ``seq`` and ``best_seq`` stay.
        """
        keep = {seq, best_seq} if finished else {seq, seq - 1, best_seq}
        drop = {s for s in live if s not in keep}
        for s in sorted(drop):
            self.store.delete(self.state_key(model_id, s))
        return set(live) - drop

    def clear(self) -> list[str]:
        """Deletes every run of this project (``overwrite=True``); returns the model ids."""
        gone = self.store.listdir(self.root)
        if gone:
            self.store.delete(self.root)
        return gone
