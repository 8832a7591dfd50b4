"""Conversions between filesystem paths and URIs that Spark/Hadoop understand.

Paths are not percent-encoded: Hadoop's ``Path`` accepts raw characters and
this keeps ``fs_path(uri(key))`` an identity.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pyarrow.fs as pafs

# pyarrow filesystem type_name -> (URI scheme, accepted schemes when parsing).
# Bucket-style filesystems use "bucket/key" paths, written "<scheme>://bucket/key".
_BUCKET_SCHEMES: dict[str, tuple[str, tuple[str, ...]]] = {
    "s3": ("s3", ("s3", "s3a", "s3n")),
    "gcs": ("gs", ("gs", "gcs")),
    "mock": ("mock", ("mock",)),
}


def clean_bucket_path(path: str) -> str:
    """``bucket/prefix/`` -> ``bucket/prefix`` (S3 paths have no leading ``/``)."""
    return "/".join(p for p in path.split("/") if p)


def _join(scheme: str, authority: str, path: str) -> str:
    if path.startswith("/"):
        return f"{scheme}://{authority}{path}"
    return f"{scheme}://{path}"


def path_to_source_uri(source_uri: str, path: str) -> str:
    """Builds the URI of ``path`` for a store created from ``source_uri``.

    Args:
        source_uri: URI the store was created from, e.g. ``s3://bucket/x``.
        path: Path inside the filesystem ``FileSystem.from_uri`` returned.

    Returns:
        A URI with the scheme (and, for path-style URIs, authority) of
        ``source_uri``.
    """
    parsed = urlsplit(source_uri)
    return _join(parsed.scheme, parsed.netloc, path)


def source_uri_to_path(source_uri: str, root: str, uri: str) -> str:
    """Inverse of :func:`path_to_source_uri`.

    Args:
        source_uri: URI the store was created from.
        root: Root path of the store; a leading ``/`` means path-style URIs.
        uri: URI to convert.

    Returns:
        The path inside the store's filesystem.

    Raises:
        ValueError: If ``uri`` is on another kind of filesystem.
    """
    src, parsed = urlsplit(source_uri), urlsplit(uri)
    if parsed.scheme.lower() != src.scheme.lower():
        raise ValueError(f"URI {uri!r} is not on the filesystem of store {source_uri!r}")
    if root.startswith("/"):
        if parsed.netloc.lower() != src.netloc.lower():
            raise ValueError(f"URI {uri!r} is not on the filesystem of store {source_uri!r}")
        return parsed.path or "/"
    return parsed.netloc + parsed.path


def path_to_fs_uri(fs: pafs.FileSystem, path: str) -> str:
    """Builds a Spark/Hadoop URI for ``path`` inside a given filesystem.

    Args:
        fs: Filesystem (local, HDFS, S3, GCS, mock, or a SubTreeFileSystem of
            one of those).
        path: Path inside ``fs``.

    Returns:
        The URI.

    Raises:
        NotImplementedError: For filesystems Spark cannot address, such as
            fsspec-backed ``PyFileSystem`` instances (e.g. in-memory).
    """
    kind = fs.type_name
    if kind == "subtree":
        base = fs.base_path.rstrip("/")
        return path_to_fs_uri(fs.base_fs, f"{base}/{path.lstrip('/')}" if path else base)
    if kind == "local":
        return "file://" + (path if path.startswith("/") else "/" + path)
    if kind == "hdfs":
        return "hdfs://" + path  # no authority: the cluster's fs.defaultFS
    if kind in _BUCKET_SCHEMES:
        return f"{_BUCKET_SCHEMES[kind][0]}://{path.lstrip('/')}"
    raise NotImplementedError(
        f"uri() is not available for a store on filesystem type {kind!r}: Spark/Hadoop "
        "cannot address it. Use LocalStore, HDFSStore or Store.create(<uri>) for data "
        "that Spark must read or write."
    )


def fs_uri_to_path(fs: pafs.FileSystem, uri: str) -> str:
    """Inverse of :func:`path_to_fs_uri`.

    Args:
        fs: Filesystem of the store.
        uri: URI to convert.

    Returns:
        The path of ``uri`` inside ``fs``.

    Raises:
        ValueError: If ``uri`` does not designate a location inside ``fs``.
    """
    kind, parsed = fs.type_name, urlsplit(uri)
    scheme = parsed.scheme.lower()
    if kind == "subtree":
        inner = fs_uri_to_path(fs.base_fs, uri).rstrip("/")
        base = fs.base_path.rstrip("/")
        if inner == base:
            return ""
        if base and inner.startswith(base + "/"):
            return inner[len(base) + 1 :]
        if not base:
            return inner
    elif kind == "local" and scheme == "file" and parsed.netloc in ("", "localhost"):
        return parsed.path or "/"
    elif kind == "hdfs" and scheme == "hdfs":
        return parsed.path or "/"
    elif kind in _BUCKET_SCHEMES and scheme in _BUCKET_SCHEMES[kind][1]:
        return parsed.netloc + parsed.path
    raise ValueError(f"URI {uri!r} does not designate a location in this {kind!r} filesystem")
