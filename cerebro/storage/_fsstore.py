"""Generic :class:`FilesystemStore` on any ``pyarrow.fs.FileSystem``.

Atomicity: :meth:`FilesystemStore.write_bytes` writes a hidden sibling
``.<name>.tmp-<uuid4hex>`` and renames it onto the final name with
``FileSystem.move``.  On POSIX local disks (and pyarrow's local filesystem
inside a ``SubTreeFileSystem``) that rename atomically replaces the old file.
HDFS renames are atomic but refuse to overwrite, so an existing file is first
renamed aside, then the new one renamed in, then the old one deleted: readers
may briefly see the key missing, never partial, and if the second rename fails
the old file is put back.  Object stores (S3, GCS) implement ``move`` as
copy + delete; each object write is atomic there, so readers still never see
partial content (but a write costs an extra server-side copy).  In every case
a failed write deletes its temporary file and leaves the old content.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow.fs as pafs

from cerebro.storage import _uris
from cerebro.storage.base import Store, is_temp_name, is_uri, normalize_key

_FILE = pafs.FileType.File
_DIR = pafs.FileType.Directory
_MISSING = pafs.FileType.NotFound


def _parent(path: str) -> str:
    """Returns the parent of a filesystem path ('' or '/' at the top)."""
    head, _, _ = path.rstrip("/").rpartition("/")
    return head or ("/" if path.startswith("/") else "")


def _temp_sibling(path: str) -> str:
    """Returns a fresh hidden sibling path ``.<name>.tmp-<hex>`` of ``path``."""
    head, sep, name = path.rstrip("/").rpartition("/")
    return f"{head}{sep}.{name}.tmp-{uuid.uuid4().hex}"


def _clean_root(root: str) -> str:
    """Removes trailing slashes from a root path, keeping a bare '/'."""
    return root.rstrip("/") or ("/" if root.startswith("/") else "")


class FilesystemStore(Store):
    """A :class:`Store` rooted at ``root`` inside any ``pyarrow.fs.FileSystem``.

    The filesystem object is pickled along with the store (pyarrow filesystems
    are picklable; an fsspec-backed ``PyFileSystem`` pickles its fsspec
    instance).  Subclasses instead create their filesystem lazily in
    :meth:`_connect` and drop it when pickled.

    Args:
        filesystem: Filesystem holding the data, or ``None`` for subclasses and
            :meth:`from_uri`, which create it lazily.
        root: Path of the store root inside ``filesystem``.
        train_path: See :class:`Store`.
        val_path: See :class:`Store`.
        runs_path: See :class:`Store`.
    """

    def __init__(
        self,
        filesystem: pafs.FileSystem | None,
        root: str | None,
        *,
        train_path: str | None = None,
        val_path: str | None = None,
        runs_path: str | None = None,
    ) -> None:
        super().__init__(train_path=train_path, val_path=val_path, runs_path=runs_path)
        if filesystem is not None and not isinstance(filesystem, pafs.FileSystem):
            raise TypeError(f"filesystem must be a pyarrow.fs.FileSystem, got {filesystem!r}")
        self._fs: pafs.FileSystem | None = filesystem
        self._keep_fs = filesystem is not None
        if filesystem is not None and root is None:
            root = ""
        self._root: str | None = None if root is None else _clean_root(root)
        self._source_uri: str | None = None

    @classmethod
    def from_uri(cls, uri: str, **kwargs: Any) -> FilesystemStore:
        """Creates a store rooted at ``uri``; the filesystem is created lazily.

        Args:
            uri: Any URI accepted by ``pyarrow.fs.FileSystem.from_uri``.
            **kwargs: ``train_path``, ``val_path``, ``runs_path``.

        Returns:
            A generic :class:`FilesystemStore`.
        """
        store = FilesystemStore(None, None, **kwargs)
        store._source_uri = uri
        return store

    # ------------------------------------------------------------------ connection
    def _connect(self) -> tuple[pafs.FileSystem, str | None]:
        """Creates the filesystem; returns it and the root if not yet known."""
        if self._source_uri is None:
            raise RuntimeError(f"{type(self).__name__} has no filesystem to connect to")
        fs, path = pafs.FileSystem.from_uri(self._source_uri)
        return fs, str(path)

    @property
    def filesystem(self) -> pafs.FileSystem:
        """The ``pyarrow.fs.FileSystem`` holding the data (created on first use)."""
        if self._fs is None:
            fs, root = self._connect()
            if self._root is None:
                self._root = _clean_root(root or "")
            self._fs = fs
        return self._fs

    @property
    def root(self) -> str:
        """Path of the store root inside :attr:`filesystem`."""
        if self._root is None:
            self.filesystem  # noqa: B018 - resolves the root
        assert self._root is not None
        return self._root

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if not self._keep_fs:
            state["_fs"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        where = self._source_uri or (self._root if self._root is not None else "?")
        return f"{type(self).__name__}({where!r})"

    # ------------------------------------------------------------------ paths & URIs
    def fs_path(self, key: str) -> str:
        """Returns the path of ``key`` inside :attr:`filesystem`."""
        key = normalize_key(key)
        if is_uri(key):
            return self._uri_to_path(key)
        if key.startswith("/"):
            return key
        root = self.root
        if not key:
            return root
        return root + key if root.endswith("/") or not root else root + "/" + key

    def uri(self, key: str) -> str:
        """Returns a URI of ``key`` for Spark/Hadoop (``file://``, ``hdfs://``...)."""
        key = normalize_key(key)
        return key if is_uri(key) else self._path_to_uri(self.fs_path(key))

    def _path_to_uri(self, path: str) -> str:
        if self._source_uri is not None:
            return _uris.path_to_source_uri(self._source_uri, path)
        return _uris.path_to_fs_uri(self.filesystem, path)

    def _uri_to_path(self, uri: str) -> str:
        if self._source_uri is not None:
            return _uris.source_uri_to_path(self._source_uri, self.root, uri)
        return _uris.fs_uri_to_path(self.filesystem, uri)

    def temp_key(self, key: str) -> str:
        """Returns a fresh hidden sibling key (``.<name>.tmp-<hex>``) of ``key``."""
        key = normalize_key(key)
        head, _, name = key.rstrip("/").rpartition("/")
        if not name:
            raise ValueError(f"cannot make a temporary sibling of the store root: {key!r}")
        temp = f".{name}.tmp-{uuid.uuid4().hex}"
        return f"{head}/{temp}" if head or key.startswith("/") else temp

    def _file_path(self, key: str) -> str:
        path = self.fs_path(key)
        if path.rstrip("/") == self.root.rstrip("/"):
            raise ValueError(f"key {key!r} designates the store root, not a file")
        return path

    def _info(self, path: str) -> pafs.FileInfo:
        return self.filesystem.get_file_info(path)

    # ------------------------------------------------------------------ operations
    def write_bytes(self, key: str, data: bytes) -> None:
        """Atomically writes ``data`` (write hidden temp, then rename over ``key``)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"write_bytes() needs bytes, got {type(data).__name__}")
        path = self._file_path(key)
        fs = self.filesystem
        parent = _parent(path)
        if parent not in ("", "/"):
            fs.create_dir(parent, recursive=True)
        tmp = _temp_sibling(path)
        try:
            with fs.open_output_stream(tmp, compression=None) as out:
                out.write(data)
            self._replace_file(tmp, path)
        except BaseException:
            self._discard(tmp)
            raise

    @contextlib.contextmanager
    def open_output(self, key: str) -> Iterator[Any]:
        """Streams a write to a hidden temporary, published as ``key`` on a clean exit."""
        path = self._file_path(key)
        fs = self.filesystem
        parent = _parent(path)
        if parent not in ("", "/"):
            fs.create_dir(parent, recursive=True)
        tmp = _temp_sibling(path)
        try:
            with fs.open_output_stream(tmp, compression=None) as out:
                yield out
            self._replace_file(tmp, path)
        except BaseException:
            self._discard(tmp)
            raise

    def _replace_file(self, src: str, dst: str) -> None:
        try:
            self.filesystem.move(src, dst)
            return
        except OSError:
            # HDFS (and some others) refuse to rename onto an existing file.
            if self._info(dst).type != _FILE or self._info(src).type != _FILE:
                raise
        self._swap_in(src, dst, self.filesystem.move)

    def _swap_in(self, src: str, dst: str, move: Callable[[str, str], None]) -> None:
        """Moves existing ``dst`` aside, ``src`` onto ``dst``, then drops the old one.

        If the second move fails, the old ``dst`` is put back.
        """
        aside = _temp_sibling(dst)
        move(dst, aside)
        try:
            move(src, dst)
        except BaseException:
            move(aside, dst)
            raise
        self._discard(aside)

    def _discard(self, path: str) -> None:
        """Best-effort removal of a temporary file or directory."""
        try:
            info = self._info(path)
            if info.type == _DIR:
                self.filesystem.delete_dir(path)
            elif info.type != _MISSING:
                self.filesystem.delete_file(path)
        except Exception:  # noqa: BLE001 - cleanup must not mask the real error
            pass

    def read_bytes(self, key: str) -> bytes:
        """Returns the content of ``key``; FileNotFoundError if it is missing."""
        path = self._file_path(key)
        try:
            with self.filesystem.open_input_stream(path, compression=None) as stream:
                data: bytes = stream.read()
                return data
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"no such key in store: {key!r} (path {path!r})") from exc
        except OSError as exc:
            if self._info(path).type == _MISSING:
                raise FileNotFoundError(
                    f"no such key in store: {key!r} (path {path!r})"
                ) from exc
            raise

    def exists(self, key: str) -> bool:
        """Returns whether a file or directory exists at ``key``."""
        return bool(self._info(self.fs_path(key)).type != _MISSING)

    def listdir(self, key: str) -> list[str]:
        """Returns sorted child names of ``key`` ([] if missing; temps hidden)."""
        path = self.fs_path(key)
        selector = pafs.FileSelector(path, allow_not_found=True, recursive=False)
        try:
            infos = self.filesystem.get_file_info(selector)
        except NotADirectoryError as exc:
            raise NotADirectoryError(f"store key is a file, not a directory: {key!r}") from exc
        if not infos and self._info(path).type == _FILE:  # object stores list a file as empty
            raise NotADirectoryError(f"store key is a file, not a directory: {key!r}")
        return sorted(i.base_name for i in infos if not is_temp_name(i.base_name))

    def delete(self, key: str) -> None:
        """Deletes the file or directory tree at ``key``; no error if missing."""
        path = self.fs_path(key)
        if normalize_key(key) == "" or path.rstrip("/") == self.root.rstrip("/"):
            raise ValueError("refusing to delete the store root")
        info = self._info(path)
        try:
            if info.type == _DIR:
                self.filesystem.delete_dir(path)
            elif info.type != _MISSING:
                self.filesystem.delete_file(path)
        except FileNotFoundError:
            pass

    def makedirs(self, key: str) -> None:
        """Creates directory ``key`` and its parents."""
        self.filesystem.create_dir(self.fs_path(key), recursive=True)

    def size(self, key: str) -> int:
        """Returns the byte size of a file or the total of a directory tree."""
        path = self.fs_path(key)
        info = self._info(path)
        if info.type == _MISSING:
            raise FileNotFoundError(f"no such key in store: {key!r} (path {path!r})")
        if info.type != _DIR:
            return int(info.size or 0)
        infos = self.filesystem.get_file_info(pafs.FileSelector(path, recursive=True))
        return sum(int(i.size or 0) for i in infos if i.type == _FILE)

    def move_atomic(self, src_key: str, dst_key: str) -> None:
        """Publishes ``src_key`` as ``dst_key``, replacing any existing entry.

        A file replaces a file through a single rename (atomic where the
        filesystem's rename is, see the module docstring).  A directory
        replaces an existing destination by renaming the old one aside,
        renaming the new one in, then deleting the old one; readers may see
        the destination missing between the two renames.  If moving the new
        one in fails, the old one is put back.
        """
        src, dst = self._file_path(src_key), self._file_path(dst_key)
        src_info = self._info(src)
        if src_info.type == _MISSING:
            raise FileNotFoundError(f"no such key in store: {src_key!r} (path {src!r})")
        if src.rstrip("/") == dst.rstrip("/"):
            return
        fs = self.filesystem
        parent = _parent(dst)
        if parent not in ("", "/"):
            fs.create_dir(parent, recursive=True)
        dst_type = self._info(dst).type
        if src_info.type == _FILE and dst_type != _DIR:
            self._replace_file(src, dst)
            return
        if dst_type == _MISSING:
            self._move_tree(src, dst)
            return
        self._swap_in(src, dst, self._move_tree)

    def _move_tree(self, src: str, dst: str) -> None:
        fs = self.filesystem
        try:
            fs.move(src, dst)
        except (OSError, NotImplementedError):
            # Object stores cannot rename directories: copy, then delete.
            if self._info(src).type != _DIR or self._info(dst).type != _MISSING:
                raise
            pafs.copy_files(src, dst, source_filesystem=fs, destination_filesystem=fs)
            fs.delete_dir(src)
