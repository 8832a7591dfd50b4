"""Abstract :class:`Store`: where datasets, checkpoints and logs live.

A store is rooted at a directory of some filesystem (local disk, HDFS, S3, an
in-memory filesystem...).  Every public method takes a *key*: a ``/``-separated
path relative to that root, such as ``"runs/trial_0001/state.npz"``.  Keys that
are absolute paths (``"/data/train"``) or URIs (``"hdfs://nn:8020/data"``) are
also accepted; they address the same filesystem outside the root, which is how
the ``train_path``/``val_path``/``runs_path`` overrides work.

Stores are shipped to Spark tasks, so implementations must pickle cheaply and
must not carry live connections across a pickle round trip.
"""

from __future__ import annotations

import abc
import contextlib
import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow.fs

_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_TEMP_NAME_RE = re.compile(r"^\..+\.tmp-[0-9a-f]{32}$")


def is_uri(key: str) -> bool:
    """Returns whether ``key`` starts with a URI scheme such as ``hdfs://``."""
    return bool(_URI_RE.match(key))


def is_temp_name(name: str) -> bool:
    """Returns whether a base name is a store temporary (``.<name>.tmp-<hex>``)."""
    return bool(_TEMP_NAME_RE.match(name))


def normalize_key(key: str) -> str:
    """Validates and canonicalizes a key.

    Empty and ``.`` components are dropped, so ``"a//b/./c/"`` becomes
    ``"a/b/c"`` and ``""`` designates the store root.  Absolute keys keep
    their leading ``/``; URIs are returned unchanged.

    Args:
        key: Key to check.

    Returns:
        The canonical key.

    Raises:
        TypeError: If ``key`` is not a string.
        ValueError: If ``key`` contains a ``..`` component or a NUL byte.
    """
    if not isinstance(key, str):
        raise TypeError(f"store key must be a str, got {type(key).__name__}: {key!r}")
    if "\x00" in key:
        raise ValueError(f"store key must not contain NUL bytes: {key!r}")
    if is_uri(key):
        return key
    parts = [p for p in key.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"store key must not contain '..' components: {key!r}")
    joined = "/".join(parts)
    return "/" + joined if key.startswith("/") else joined


def join_key(base: str, *parts: str) -> str:
    """Joins key components with ``/`` (``base`` may be a key, path or URI)."""
    out = base
    for part in parts:
        part = part.strip("/")
        if not part:
            continue
        out = part if not out else out.rstrip("/") + "/" + part
    return out


def validate_model_id(model_id: str) -> str:
    """Checks that ``model_id`` can be used as a single key component.

    Args:
        model_id: Identifier of a model / trial.

    Returns:
        ``model_id`` unchanged.

    Raises:
        ValueError: If it is empty, contains ``/`` or ``..``, or is ``.``.
    """
    if (
        not isinstance(model_id, str)
        or not model_id
        or "/" in model_id
        or "\\" in model_id
        or ".." in model_id
        or model_id == "."
        or "\x00" in model_id
    ):
        raise ValueError(
            f"invalid model_id {model_id!r}: must be a non-empty string without "
            "'/', '\\' or '..'"
        )
    return model_id


class Store(abc.ABC):
    """Abstract storage for datasets, model checkpoints and logs.

    Layout (keys, relative to the store root, overridable in the constructor):

    * ``data/train/<fingerprint>``, ``data/val/<fingerprint>`` - prepared Parquet shards,
      content-addressed: one directory per distinct (source content, preparation settings),
      so projects sharing a store never overwrite each other's data,
    * ``data/datasets/<fingerprint>.json`` - the record of one prepared dataset (written
      last: a dataset without it is incomplete),
    * ``data/metadata.json`` - a copy of the latest prepared dataset's record,
    * ``runs/<model_id>/<name>`` - checkpoints of one model,
    * ``runs/<model_id>/logs`` - its logs.

    Args:
        train_path: Key, absolute path or URI of the training data
            (default ``"data/train"``).
        val_path: Same for validation data (default ``"data/val"``).
        runs_path: Same for the runs directory (default ``"runs"``).
    """

    def __init__(
        self,
        train_path: str | None = None,
        val_path: str | None = None,
        runs_path: str | None = None,
    ) -> None:
        self._train_path = normalize_key(train_path) if train_path else "data/train"
        self._val_path = normalize_key(val_path) if val_path else "data/val"
        self._runs_path = normalize_key(runs_path) if runs_path else "runs"

    # ------------------------------------------------------------------ factory
    @classmethod
    def create(cls, prefix_path: str, **kwargs: Any) -> Store:
        """Builds the store suited to ``prefix_path``.

        Plain paths and ``file://`` URIs give a :class:`LocalStore`, ``hdfs://``
        URIs an :class:`HDFSStore`, ``s3://`` URIs an :class:`S3Store` (its keyword
        arguments, e.g. ``endpoint_override``, may be passed), and any other URI understood by
        ``pyarrow.fs.FileSystem.from_uri`` a generic :class:`FilesystemStore`.

        Args:
            prefix_path: Root of the store (path or URI).
            **kwargs: Forwarded to the store constructor (``train_path``...).

        Returns:
            A new store.
        """
        from cerebro.storage.compat import HDFSStore, LocalStore  # the public classes
        from cerebro.storage.filesystem import FilesystemStore, S3Store

        scheme = prefix_path.split("://", 1)[0].lower() if is_uri(prefix_path) else ""
        if scheme in ("", "file"):
            return LocalStore(prefix_path, **kwargs)
        if scheme == "hdfs":
            return HDFSStore(prefix_path, **kwargs)
        if scheme in ("s3", "s3a"):
            return S3Store(prefix_path, **kwargs)
        return FilesystemStore.from_uri(prefix_path, **kwargs)

    # ------------------------------------------------------------------ layout
    def train_data_key(self) -> str:
        """Returns the key of the training dataset."""
        return self._train_path

    def val_data_key(self) -> str:
        """Returns the key of the validation dataset."""
        return self._val_path

    def metadata_key(self) -> str:
        """Returns the key of the latest prepared dataset's record (a JSON file)."""
        return "data/metadata.json"

    def dataset_key(self, fingerprint: str) -> str:
        """Returns the key of the record of the prepared dataset ``fingerprint``.

        Raises:
            ValueError: If ``fingerprint`` is not a single key component.
        """
        return join_key("data/datasets", validate_model_id(fingerprint) + ".json")

    def shards_key(self, split: str, fingerprint: str) -> str:
        """Returns the directory of split ``"train"`` or ``"val"`` of dataset ``fingerprint``."""
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        base = self._train_path if split == "train" else self._val_path
        return join_key(base, validate_model_id(fingerprint))

    def runs_key(self) -> str:
        """Returns the key of the directory holding all runs."""
        return self._runs_path

    def run_key(self, model_id: str) -> str:
        """Returns the key of the directory of one model."""
        return join_key(self._runs_path, validate_model_id(model_id))

    def checkpoint_key(self, model_id: str, name: str) -> str:
        """Returns the key of checkpoint file ``name`` of ``model_id``.

        Raises:
            ValueError: If ``model_id`` is invalid or ``name`` is not a
                non-empty relative key.
        """
        run = self.run_key(model_id)
        rel = normalize_key(name)
        if not rel or rel.startswith("/") or is_uri(rel):
            raise ValueError(f"checkpoint name must be a non-empty relative key: {name!r}")
        return join_key(run, rel)

    def logs_key(self, model_id: str) -> str:
        """Returns the key of the log directory of ``model_id``."""
        return join_key(self.run_key(model_id), "logs")

    # ------------------------------------------------------------------ pyarrow interop
    @property
    @abc.abstractmethod
    def filesystem(self) -> pyarrow.fs.FileSystem:
        """The ``pyarrow.fs.FileSystem`` holding the data (created lazily)."""

    @abc.abstractmethod
    def fs_path(self, key: str) -> str:
        """Returns the path of ``key`` inside :attr:`filesystem`."""

    @abc.abstractmethod
    def uri(self, key: str) -> str:
        """Returns a URI of ``key`` that Spark/Hadoop can read and write.

        Raises:
            NotImplementedError: If the filesystem has no such URI.
        """

    # ------------------------------------------------------------------ operations
    @abc.abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Atomically writes ``data`` to ``key``, creating parent directories.

        Readers see either the previous content or the new one, never a
        partial file; on failure the previous content is kept.
        """

    @abc.abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """Returns the content of ``key``.

        Raises:
            FileNotFoundError: If ``key`` does not exist (message names it).
        """

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Returns whether a file or directory exists at ``key``."""

    @abc.abstractmethod
    def listdir(self, key: str) -> list[str]:
        """Returns the sorted child names of directory ``key``.

        Missing directories give ``[]``; in-progress temporary files are hidden.
        """

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Deletes the file or directory tree at ``key``; no error if missing."""

    @abc.abstractmethod
    def makedirs(self, key: str) -> None:
        """Creates directory ``key`` and its parents (no error if it exists)."""

    @abc.abstractmethod
    def size(self, key: str) -> int:
        """Returns the size in bytes of a file, or the total of a directory tree."""

    @abc.abstractmethod
    def move_atomic(self, src_key: str, dst_key: str) -> None:
        """Publishes ``src_key`` (file or directory) as ``dst_key``.

        An existing destination is replaced.
        """

    @abc.abstractmethod
    def open_output(self, key: str) -> contextlib.AbstractContextManager[Any]:
        """Opens ``key`` for streaming writes, published atomically when the block exits.

        Used as ``with store.open_output(key) as out: out.write(...)``; the stream is a
        ``pyarrow.NativeFile`` (Parquet writers accept it). The data goes to a hidden
        temporary sibling and is published as ``key`` only if the block exits without an
        exception; otherwise the temporary is removed and any previous ``key`` is kept.
        """

    @abc.abstractmethod
    def temp_key(self, key: str) -> str:
        """Returns a fresh hidden sibling key to stage ``key`` before publishing.

        Write (e.g. with Spark, to ``uri(temp_key(k))``) then call
        ``move_atomic(temp, k)``.  Staged entries are hidden from
        :meth:`listdir`.
        """

    # ------------------------------------------------------------------ helpers
    def write_text(self, key: str, text: str) -> None:
        """Atomically writes ``text`` encoded as UTF-8."""
        self.write_bytes(key, text.encode("utf-8"))

    def read_text(self, key: str) -> str:
        """Reads ``key`` and decodes it as UTF-8."""
        return self.read_bytes(key).decode("utf-8")

    def write_json(self, key: str, obj: Any, indent: int | None = 2) -> None:
        """Atomically writes ``obj`` serialized as JSON (UTF-8)."""
        self.write_text(key, json.dumps(obj, indent=indent))

    def read_json(self, key: str) -> Any:
        """Reads and parses the JSON document at ``key``."""
        return json.loads(self.read_text(key))
