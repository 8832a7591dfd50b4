"""Where a NAS search's KerasTuner state (oracle, trials) lives: in the store, always.

KerasTuner reads and writes a local directory. On a ``LocalStore`` (or a shared POSIX mount)
that directory is the store's ``nas/``. On a remote store (HDFS, S3) it is a local mirror
that is filled from the store's ``nas/<project>/`` before the tuner is made and copied back
after every save, so a rerun from another directory or machine resumes the search.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Any

PREFIX = "nas"


def is_local(store: Any) -> bool:
    import pyarrow.fs as pafs

    return isinstance(store.filesystem, pafs.LocalFileSystem)


def local_dir(store: Any) -> str:
    """The directory KerasTuner gets for ``store`` (its projects go below it)."""
    if is_local(store):
        return str(store.fs_path(PREFIX))
    try:
        where = store.uri("")
    except Exception:  # noqa: BLE001 - any stable name of the store will do
        where = repr(store)
    digest = hashlib.blake2b(str(where).encode(), digest_size=8).hexdigest()
    return os.path.join(tempfile.gettempdir(), "cerebro-nas", digest)


def pull(store: Any, project: str) -> None:
    """Copies a remote store's ``nas/<project>/`` into the local mirror (before the tuner
    reads it); a no-op on a local store."""
    if is_local(store):
        return
    root = os.path.join(local_dir(store), project)
    for key in _walk(store, f"{PREFIX}/{project}"):
        path = os.path.join(root, *key.split("/")[2:])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(store.read_bytes(key))


def push(store: Any, project: str) -> None:
    """Copies the local mirror's project back into a remote store (after a save)."""
    if is_local(store):
        return
    root = os.path.join(local_dir(store), project)
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            with open(path, "rb") as f:
                store.write_bytes(f"{PREFIX}/{project}/{rel}", f.read())


def _walk(store: Any, key: str) -> list[str]:
    """Every file below ``key``, as store keys."""
    import pyarrow.fs as pafs

    base = store.fs_path(key).rstrip("/")
    infos = store.filesystem.get_file_info(
        pafs.FileSelector(base, recursive=True, allow_not_found=True))
    return sorted(f"{key}/{info.path[len(base) + 1:]}" for info in infos
                  if info.type == pafs.FileType.File and info.path.startswith(base + "/")
                  and ".tmp-" not in info.base_name)
