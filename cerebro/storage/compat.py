"""``LocalStore`` and ``HDFSStore`` with upstream Cerebro 1.x's constructor arguments.

``cerebro.storage.LocalStore`` / ``HDFSStore`` are these classes: the positional order is
upstream's (``prefix_path, train_path, val_path, runs_path, temp_dir, host, ...``), and
upstream's path getters (``get_train_data_path()``...) and ``read()`` work. See
``docs/migrating.md`` for what each argument means here.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Mapping, Optional

import pyarrow.fs as pafs

from cerebro._logging import get_logger
from cerebro.storage import _fsstore
from cerebro.storage import filesystem as _fs

log = get_logger("storage")


def _log_temp_dir(cls: str, temp_dir: Optional[str]) -> None:
    if temp_dir is not None:
        log.info("%s(temp_dir=%r) ignored: nothing is staged in a local directory, every "
                 "write goes to the store atomically", cls, temp_dir)


class _UpstreamPaths(_fsstore.FilesystemStore):
    """Upstream ``Store``'s path getters, as URIs of this store's keys (mixed into both stores)."""

    @property
    def prefix_path(self) -> str:
        """The store root as a URI (upstream kept ``file://`` or ``hdfs://`` in front too)."""
        return self.uri("")

    def get_train_data_path(self, idx: Optional[int] = None) -> str:
        _check_idx(idx)
        return self.uri(self.train_data_key())

    def get_val_data_path(self, idx: Optional[int] = None) -> str:
        _check_idx(idx)
        return self.uri(self.val_data_key())

    def get_runs_path(self) -> str:
        return self.uri(self.runs_key())

    def read(self, path: str) -> bytes:
        """The bytes at ``path`` (a key, absolute path or URI), as upstream's ``read``."""
        return self.read_bytes(path)


def _check_idx(idx: Optional[int]) -> None:
    if idx is not None:
        raise ValueError(f"dataset index {idx!r} is not supported: a store holds one prepared "
                         "dataset; give each dataset its own store (prefix_path)")


class LocalStore(_UpstreamPaths, _fs.LocalStore):
    """A store on the local filesystem (or a POSIX shared mount such as NFS).

    Args:
        prefix_path: Root directory (or ``file://`` URI); created if missing.
        train_path / val_path / runs_path: Where the prepared data and the runs go
            (keys relative to the root, absolute paths or URIs).
        temp_dir: Upstream's local staging directory; ignored (a line is logged).
    """

    def __init__(self, prefix_path: str | os.PathLike[str], train_path: Optional[str] = None,
                 val_path: Optional[str] = None, runs_path: Optional[str] = None,
                 temp_dir: Optional[str] = None) -> None:
        super().__init__(prefix_path, train_path=train_path, val_path=val_path,
                         runs_path=runs_path)
        _log_temp_dir("LocalStore", temp_dir)


class HDFSStore(_UpstreamPaths, _fs.HDFSStore):
    """A store on HDFS (``pyarrow.fs.HadoopFileSystem``, i.e. JNI libhdfs).

    Args:
        prefix_path: ``hdfs://host:port/path`` or an absolute ``/path``.
        train_path / val_path / runs_path: As for ``LocalStore``.
        temp_dir: Upstream's local staging directory; ignored (a line is logged).
        host / port / user / kerb_ticket: The namenode and the credentials.
        driver: ``"libhdfs"`` only (pyarrow dropped ``"libhdfs3"``).
        extra_conf: Hadoop properties that override ``hdfs-site.xml`` for this client.
    """

    def __init__(self, prefix_path: str, train_path: Optional[str] = None,
                 val_path: Optional[str] = None, runs_path: Optional[str] = None,
                 temp_dir: Optional[str] = None, host: Optional[str] = None,
                 port: Optional[int] = None, user: Optional[str] = None,
                 kerb_ticket: Optional[str] = None, driver: str = "libhdfs",
                 extra_conf: Optional[Mapping[str, Any]] = None) -> None:
        if driver != "libhdfs":
            raise ValueError(
                f"HDFSStore(driver={driver!r}) is not supported: pyarrow's HadoopFileSystem "
                "uses the JNI libhdfs only (libhdfs3 was removed from pyarrow); "
                "leave driver='libhdfs'")
        if extra_conf is not None and not isinstance(extra_conf, Mapping):
            raise TypeError(f"extra_conf must be a dict of Hadoop properties, got {extra_conf!r}")
        super().__init__(prefix_path, host=host, port=port, user=user, kerb_ticket=kerb_ticket,
                         train_path=train_path, val_path=val_path, runs_path=runs_path)
        self._extra_conf = {str(k): str(v) for k, v in (extra_conf or {}).items()}
        _log_temp_dir("HDFSStore", temp_dir)

    def _connect(self) -> tuple[pafs.FileSystem, str | None]:
        if not self._extra_conf or self._source_uri is not None:
            return super()._connect()
        where = f"hdfs://{self._authority or '<fs.defaultFS>'}"
        if self._authority and self._port:
            try:
                socket.create_connection((self._host, int(self._port)), timeout=5).close()
            except OSError as exc:
                raise RuntimeError(f"HDFS could not be reached at {where}: namenode "
                                   f"{self._host}:{self._port} does not accept connections "
                                   f"({exc})") from exc
        try:
            fs = pafs.HadoopFileSystem(self._host or "default", int(self._port or 0),
                                       user=self._user, kerb_ticket=self._kerb_ticket,
                                       extra_conf=self._extra_conf)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises OSError/ArrowException variants
            lines = [ln for ln in str(exc).splitlines() if ln.strip()][:2]
            raise RuntimeError(f"HDFS could not be reached at {where}: "
                               f"{' | '.join(lines)[:500]}. Check JAVA_HOME, "
                               "ARROW_LIBHDFS_DIR/HADOOP_HOME and CLASSPATH") from exc
        return fs, None


__all__ = ["HDFSStore", "LocalStore"]
