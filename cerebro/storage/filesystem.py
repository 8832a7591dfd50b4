"""Stores backed by ``pyarrow.fs``: generic, local disk and HDFS.

See :mod:`cerebro.storage._fsstore` for the write protocol and how atomic it
is on each kind of filesystem.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import unquote, urlsplit

import pyarrow.fs as pafs

from cerebro.storage import _uris
from cerebro.storage._fsstore import FilesystemStore
from cerebro.storage.base import is_uri, normalize_key

__all__ = ["FilesystemStore", "HDFSStore", "LocalStore", "S3Store"]


class LocalStore(FilesystemStore):
    """A store on the local filesystem (or a POSIX shared mount such as NFS).

    Args:
        prefix_path: Root directory (relative paths are made absolute; a
            ``file://`` URI is accepted).  It is created if missing.
        train_path: See :class:`Store`.
        val_path: See :class:`Store`.
        runs_path: See :class:`Store`.
    """

    def __init__(
        self,
        prefix_path: str | os.PathLike[str],
        train_path: str | None = None,
        val_path: str | None = None,
        runs_path: str | None = None,
    ) -> None:
        path = os.fspath(prefix_path)
        if is_uri(path):
            parsed = urlsplit(path)
            if parsed.scheme.lower() != "file" or parsed.netloc not in ("", "localhost"):
                raise ValueError(f"LocalStore needs a local path or file:// URI, got {path!r}")
            path = unquote(parsed.path)
        root = os.path.abspath(os.path.expanduser(path))
        os.makedirs(root, exist_ok=True)
        super().__init__(
            None, root, train_path=train_path, val_path=val_path, runs_path=runs_path
        )

    def _connect(self) -> tuple[pafs.FileSystem, str | None]:
        return pafs.LocalFileSystem(), None

    def _path_to_uri(self, path: str) -> str:
        return "file://" + path

    def _uri_to_path(self, uri: str) -> str:
        return _uris.fs_uri_to_path(pafs.LocalFileSystem(), uri)


class HDFSStore(FilesystemStore):
    """A store on HDFS, connected lazily through ``pyarrow.fs.HadoopFileSystem``.

    ``prefix_path`` is ``hdfs://host:port/path`` or an absolute ``/path``
    (with ``host``/``port``; without them the cluster's ``fs.defaultFS`` is
    used).  Any other URI pyarrow understands (``file://``, ``s3://``...) is
    delegated to ``pyarrow.fs.FileSystem.from_uri``.

    Args:
        prefix_path: Root of the store.
        host: Namenode host (overridden by a host in ``prefix_path``).
        port: Namenode port (overridden by a port in ``prefix_path``).
        user: HDFS user name.
        kerb_ticket: Path to a Kerberos ticket cache.
        train_path: See :class:`Store`.
        val_path: See :class:`Store`.
        runs_path: See :class:`Store`.
    """

    def __init__(
        self,
        prefix_path: str,
        host: str | None = None,
        port: int | None = None,
        user: str | None = None,
        kerb_ticket: str | None = None,
        train_path: str | None = None,
        val_path: str | None = None,
        runs_path: str | None = None,
    ) -> None:
        kw = dict(train_path=train_path, val_path=val_path, runs_path=runs_path)
        scheme = prefix_path.split("://", 1)[0].lower() if is_uri(prefix_path) else ""
        self._host, self._port, self._user, self._kerb_ticket = host, port, user, kerb_ticket
        if scheme not in ("", "hdfs"):
            super().__init__(None, None, **kw)
            self._source_uri = prefix_path
            return
        path = prefix_path
        if scheme == "hdfs":
            parsed = urlsplit(prefix_path)
            self._host = parsed.hostname or host
            self._port = parsed.port or port
            self._user = parsed.username or user
            path = unquote(parsed.path) or "/"
        if not path.startswith("/"):
            raise ValueError(f"HDFSStore needs an absolute path or hdfs:// URI, got {path!r}")
        super().__init__(None, normalize_key(path) or "/", **kw)

    @property
    def _authority(self) -> str:
        if not self._host or self._host == "default":
            return ""
        return f"{self._host}:{self._port}" if self._port else self._host

    def _connect(self) -> tuple[pafs.FileSystem, str | None]:
        if self._source_uri is not None:
            return super()._connect()
        where = f"hdfs://{self._authority or '<fs.defaultFS>'}"
        if self._authority and self._port:
            try:
                socket.create_connection((self._host, int(self._port)), timeout=5).close()
            except OSError as exc:
                raise RuntimeError(
                    f"HDFS could not be reached at {where}: namenode "
                    f"{self._host}:{self._port} does not accept connections ({exc})"
                ) from exc
        try:
            fs = pafs.HadoopFileSystem(
                self._host or "default",
                int(self._port or 0),
                user=self._user,
                kerb_ticket=self._kerb_ticket,
            )
        except Exception as exc:  # pyarrow raises OSError/ArrowException variants
            lines = [ln for ln in str(exc).splitlines() if ln.strip()][:2]
            raise RuntimeError(
                f"HDFS could not be reached at {where}: {' | '.join(lines)[:500]}. "
                "Check JAVA_HOME, ARROW_LIBHDFS_DIR/HADOOP_HOME and CLASSPATH "
                "(`hadoop classpath --glob`) on this machine."
            ) from exc
        return fs, None

    def _path_to_uri(self, path: str) -> str:
        if self._source_uri is not None:
            return super()._path_to_uri(path)
        return f"hdfs://{self._authority}{path}"

    def _uri_to_path(self, uri: str) -> str:
        if self._source_uri is not None:
            return super()._uri_to_path(uri)
        parsed = urlsplit(uri)
        if parsed.scheme.lower() != "hdfs":
            raise ValueError(f"URI {uri!r} is not on this store's HDFS ({self!r})")
        if parsed.hostname and self._host and parsed.hostname != self._host.lower():
            raise ValueError(f"URI {uri!r} is on another namenode than {self._authority!r}")
        return parsed.path or "/"

    def __repr__(self) -> str:
        if self._source_uri is not None:
            return super().__repr__()
        return f"HDFSStore('hdfs://{self._authority}{self._root}')"



class S3Store(FilesystemStore):
    """A store on S3 or an S3-compatible server (MinIO, Ceph, moto...), via ``pyarrow.fs``.

    The ``pyarrow.fs.S3FileSystem`` is created lazily in each process (the driver and every
    Spark task), from the options given here; options left out come from pyarrow's usual
    AWS chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``~/.aws``, instance roles).
    Spark never addresses the store itself (no ``hadoop-aws`` needed): prepared shards are
    written by the Spark tasks with pyarrow.

    Args:
        prefix_path: ``s3://bucket/prefix`` (``s3a://`` is accepted too).
        endpoint_override: ``host:port`` or URL of an S3-compatible server.
        access_key / secret_key / session_token: Explicit credentials. They travel with
            the store to the Spark tasks (pickled): prefer the environment on a cluster.
        region: The bucket's region.
        scheme: ``"http"`` or ``"https"`` (default: from ``endpoint_override``, else https).
        create_bucket: Create the bucket when it is missing (the first write does it).
        train_path / val_path / runs_path: See :class:`Store`.
        **s3_options: Any other ``pyarrow.fs.S3FileSystem`` keyword argument.
    """

    def __init__(
        self,
        prefix_path: str,
        endpoint_override: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
        region: str | None = None,
        scheme: str | None = None,
        create_bucket: bool = False,
        train_path: str | None = None,
        val_path: str | None = None,
        runs_path: str | None = None,
        **s3_options: object,
    ) -> None:
        parsed = urlsplit(prefix_path)
        if parsed.scheme.lower() not in ("s3", "s3a") or not parsed.netloc:
            raise ValueError(f"S3Store needs an s3://bucket/prefix URI, got {prefix_path!r}")
        root = _uris.clean_bucket_path(parsed.netloc + unquote(parsed.path))
        if endpoint_override and "://" in endpoint_override:
            ep = urlsplit(endpoint_override)
            scheme = scheme or ep.scheme
            endpoint_override = ep.netloc
        options: dict[str, object] = dict(s3_options)
        for name, value in (("endpoint_override", endpoint_override), ("access_key", access_key),
                            ("secret_key", secret_key), ("session_token", session_token),
                            ("region", region), ("scheme", scheme)):
            if value is not None:
                options[name] = value
        if create_bucket:
            options["allow_bucket_creation"] = True
        self._s3_options = options
        self._create_bucket = create_bucket
        super().__init__(
            None, root, train_path=train_path, val_path=val_path, runs_path=runs_path
        )

    @property
    def bucket(self) -> str:
        """The bucket holding the store."""
        return self.root.split("/", 1)[0]

    def _connect(self) -> tuple[pafs.FileSystem, str | None]:
        fs = pafs.S3FileSystem(**self._s3_options)
        if self._create_bucket and fs.get_file_info(self.bucket).type == pafs.FileType.NotFound:
            fs.create_dir(self.bucket)
        return fs, None

    def _path_to_uri(self, path: str) -> str:
        return "s3://" + path.lstrip("/")

    def _uri_to_path(self, uri: str) -> str:
        parsed = urlsplit(uri)
        if parsed.scheme.lower() not in ("s3", "s3a", "s3n"):
            raise ValueError(f"URI {uri!r} is not on S3 ({self!r})")
        return parsed.netloc + parsed.path

    def __repr__(self) -> str:
        return f"S3Store('s3://{self.root}')"
