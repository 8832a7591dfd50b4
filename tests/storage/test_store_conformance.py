"""One conformance suite, run against every :class:`cerebro.storage.Store`.

Each ``Test*`` subclass of :class:`StoreConformance` only says how to build
its store and what its URIs look like.  Failures are injected into the *real*
filesystem of the store under test by wrapping it in a ``PyFileSystem`` whose
handler delegates everything to it (no mock stores).
"""

from __future__ import annotations

import pickle
import re
import threading
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cerebro.storage import FilesystemStore, HDFSStore, LocalStore, Store


class _InjectedError(OSError):
    pass


class _FailingStream:
    """Output stream that writes half of the data to a real stream, then fails."""

    def __init__(self, real: pa.NativeFile) -> None:
        self._real = real

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        self._real.write(view[: len(view) // 2])
        raise _InjectedError("injected failure in the middle of a write")

    def flush(self) -> None:
        self._real.flush()

    def close(self) -> None:
        self._real.close()

    @property
    def closed(self) -> bool:
        return self._real.closed

    def writable(self) -> bool:
        return True


class _FaultyHandler(pafs.FileSystemHandler):
    """Delegates to a real filesystem; fails writes or moves on demand."""

    def __init__(self, real: pafs.FileSystem, fail: str) -> None:
        self.real, self.fail = real, fail

    def get_type_name(self) -> str:
        return "faulty"

    def get_file_info(self, paths):
        return self.real.get_file_info(paths)

    def get_file_info_selector(self, selector):
        return self.real.get_file_info(selector)

    def create_dir(self, path, recursive):
        self.real.create_dir(path, recursive=recursive)

    def delete_dir(self, path):
        self.real.delete_dir(path)

    def delete_dir_contents(self, path, missing_dir_ok=False):
        self.real.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self):
        raise NotImplementedError

    def delete_file(self, path):
        self.real.delete_file(path)

    def move(self, src, dest):
        if self.fail == "move":
            raise _InjectedError("injected failure in rename")
        self.real.move(src, dest)

    def copy_file(self, src, dest):
        self.real.copy_file(src, dest)

    def open_input_stream(self, path):
        return self.real.open_input_stream(path)

    def open_input_file(self, path):
        return self.real.open_input_file(path)

    def open_output_stream(self, path, metadata):
        real = self.real.open_output_stream(path, compression=None)
        if self.fail == "write":
            return pa.PythonFile(_FailingStream(real), mode="w")
        return real

    def open_append_stream(self, path, metadata):
        return self.real.open_append_stream(path, compression=None)

    def normalize_path(self, path):
        return self.real.normalize_path(path)


def _all_names(store: Store, key: str = "") -> list[str]:
    """Every entry under ``key`` as seen by the raw filesystem (temps included)."""
    infos = store.filesystem.get_file_info(
        pafs.FileSelector(store.fs_path(key), recursive=True, allow_not_found=True)
    )
    return sorted(i.base_name for i in infos)


class StoreConformance:
    """Behaviour every Store must have.  Subclasses implement the hooks below."""

    def make_store(self, tmp_path: Path) -> Store:
        raise NotImplementedError

    def expected_uri_root(self, tmp_path: Path) -> str | None:
        """URI of the store root, or None when uri() must raise NotImplementedError."""
        raise NotImplementedError

    @pytest.fixture
    def store(self, tmp_path: Path) -> Store:
        return self.make_store(tmp_path)

    @pytest.fixture
    def faulty(self, store: Store, monkeypatch: pytest.MonkeyPatch):
        """Returns a function arming a failure ('write' or 'move') in the store's fs."""

        def arm(fail: str) -> None:
            real = store.filesystem
            wrapped = pafs.PyFileSystem(_FaultyHandler(real, fail))
            monkeypatch.setattr(type(store), "filesystem", property(lambda self: wrapped))

        return arm

    # ---------------------------------------------------------------- bytes / json
    def test_bytes_round_trip_creates_parents(self, store: Store) -> None:
        payload = bytes(range(256)) * 40
        store.write_bytes("runs/m1/deep/state.npz", payload)
        assert store.read_bytes("runs/m1/deep/state.npz") == payload
        store.write_bytes("empty.bin", b"")
        assert store.read_bytes("empty.bin") == b""
        store.write_bytes("ba.bin", bytearray(b"xyz"))
        store.write_bytes("mv.bin", memoryview(b"abc"))
        assert (store.read_bytes("ba.bin"), store.read_bytes("mv.bin")) == (b"xyz", b"abc")
        # No transparent (de)compression based on the extension.
        store.write_bytes("raw.gz", b"not gzip")
        assert store.read_bytes("raw.gz") == b"not gzip"

    def test_text_and_json_round_trip(self, store: Store) -> None:
        store.write_text("notes.txt", "héllo ✓")
        assert store.read_text("notes.txt") == "héllo ✓"
        doc = {"a": [1, 2.5, None], "b": {"c": "ü"}}
        store.write_json(store.metadata_key(), doc)
        assert store.read_json("data/metadata.json") == doc

    def test_read_missing_raises_naming_key(self, store: Store) -> None:
        with pytest.raises(FileNotFoundError, match="nope/missing.bin"):
            store.read_bytes("nope/missing.bin")

    def test_overwrite_replaces_and_leaves_no_temp(self, store: Store) -> None:
        store.write_bytes("runs/m/ckpt", b"old" * 1000)
        store.write_bytes("runs/m/ckpt", b"new")
        assert store.read_bytes("runs/m/ckpt") == b"new"
        assert _all_names(store, "runs/m") == ["ckpt"]

    @pytest.mark.parametrize("fail", ["write", "move"])
    def test_failed_write_keeps_old_value_and_no_temp(self, store, faulty, fail) -> None:
        store.write_bytes("runs/m/ckpt", b"old value")
        faulty(fail)
        with pytest.raises(_InjectedError):
            store.write_bytes("runs/m/ckpt", b"N" * 100_000)
        with pytest.raises(_InjectedError):
            store.write_bytes("runs/m/fresh", b"F" * 10)
        assert store.read_bytes("runs/m/ckpt") == b"old value"
        assert not store.exists("runs/m/fresh")
        assert _all_names(store, "runs/m") == ["ckpt"]

    def test_write_rejects_non_bytes(self, store: Store) -> None:
        store.write_bytes("k", b"old")
        with pytest.raises(TypeError):
            store.write_bytes("k", "a str is not bytes")  # type: ignore[arg-type]
        assert store.read_bytes("k") == b"old"

    def test_readers_never_see_partial_content(self, store: Store) -> None:
        size = 256 * 1024
        versions = [bytes([c]) * size for c in b"abc"]
        store.write_bytes("hot", versions[0])
        stop, seen, errors = threading.Event(), set(), []

        def reader() -> None:
            while not stop.is_set():
                try:
                    data = store.read_bytes("hot")
                except Exception as exc:  # noqa: BLE001
                    errors.append(exc)
                    return
                if data not in versions:
                    errors.append(AssertionError(f"partial read: {len(data)} bytes"))
                    return
                seen.add(data[:1])

        thread = threading.Thread(target=reader)
        thread.start()
        deadline = time.monotonic() + 0.4
        i = 0
        while time.monotonic() < deadline:
            i += 1
            store.write_bytes("hot", versions[i % 3])
        stop.set()
        thread.join(5)
        assert not errors, errors
        assert seen

    # ---------------------------------------------------------------- directories
    def test_listdir_sorted_hides_temps(self, store: Store) -> None:
        for name in ["b", "a", "c/d"]:
            store.write_bytes(f"dir/{name}", b"1")
        temp = store.temp_key("dir/a")
        assert temp.startswith("dir/.a.tmp-")
        with store.filesystem.open_output_stream(store.fs_path(temp)) as out:
            out.write(b"staged")
        assert store.listdir("dir") == ["a", "b", "c"]
        assert store.listdir("missing/dir") == []
        assert "dir" in store.listdir("")
        with pytest.raises(NotADirectoryError):
            store.listdir("dir/a")

    def test_exists_size_makedirs(self, store: Store) -> None:
        assert not store.exists("x")
        store.makedirs("x/y/z")
        assert store.exists("x/y/z") and store.listdir("x/y/z") == []
        store.write_bytes("x/f1", b"12345")
        store.write_bytes("x/y/f2", b"678")
        assert store.exists("x/f1")
        assert store.size("x/f1") == 5
        assert store.size("x") == 8
        with pytest.raises(FileNotFoundError, match="nothing"):
            store.size("nothing")

    def test_delete_file_tree_and_missing(self, store: Store) -> None:
        store.write_bytes("t/a/b/c", b"1")
        store.write_bytes("t/f", b"2")
        store.delete("t/f")
        assert not store.exists("t/f")
        store.delete("t")
        assert not store.exists("t/a/b/c") and not store.exists("t")
        store.delete("t")  # already gone: no error
        with pytest.raises(ValueError, match="root"):
            store.delete("")

    def test_move_atomic_publishes_directory(self, store: Store) -> None:
        staging = store.temp_key("data/train")
        store.write_bytes(f"{staging}/part-0.parquet", b"p0")
        store.write_bytes(f"{staging}/part-1.parquet", b"p1")
        assert store.listdir("data") == []
        store.move_atomic(staging, "data/train")
        assert store.listdir("data") == ["train"]
        assert store.listdir("data/train") == ["part-0.parquet", "part-1.parquet"]
        # Republishing replaces the old directory entirely.
        store.write_bytes("data/train.tmp-xyz/part-9.parquet", b"p9")
        store.move_atomic("data/train.tmp-xyz", "data/train")
        assert store.listdir("data/train") == ["part-9.parquet"]
        assert _all_names(store, "data") == ["part-9.parquet", "train"]

    def test_move_atomic_file_and_missing_source(self, store: Store) -> None:
        store.write_bytes("a/src", b"new")
        store.write_bytes("b/dst", b"old")
        store.move_atomic("a/src", "b/dst")
        assert store.read_bytes("b/dst") == b"new" and not store.exists("a/src")
        store.move_atomic("b/dst", "c/new/place")
        assert store.read_bytes("c/new/place") == b"new"
        with pytest.raises(FileNotFoundError, match="no/such"):
            store.move_atomic("no/such", "b/dst")

    # ---------------------------------------------------------------- keys & layout
    def test_layout_keys_and_model_id_validation(self, store: Store) -> None:
        assert store.train_data_key() == "data/train"
        assert store.val_data_key() == "data/val"
        assert store.metadata_key() == "data/metadata.json"
        assert store.runs_key() == "runs"
        assert store.run_key("m_01") == "runs/m_01"
        assert store.checkpoint_key("m_01", "state.npz") == "runs/m_01/state.npz"
        assert store.logs_key("m_01") == "runs/m_01/logs"
        for bad in ["", "a/b", "..", "x..y"]:
            with pytest.raises(ValueError, match=re.escape(repr(bad))):
                store.run_key(bad)
        for bad_name in ["", "/abs", "hdfs://nn/x"]:
            with pytest.raises(ValueError, match="checkpoint name"):
                store.checkpoint_key("m", bad_name)

    def test_key_validation(self, store: Store) -> None:
        with pytest.raises(ValueError, match=r"\.\."):
            store.write_bytes("runs/../../escape", b"x")
        with pytest.raises(ValueError, match=r"\.\."):
            store.exists("../x")
        with pytest.raises(TypeError):
            store.read_bytes(42)  # type: ignore[arg-type]
        store.write_bytes("a//b/./c/", b"1")
        assert store.read_bytes("a/b/c") == b"1"

    # ---------------------------------------------------------------- interop
    def test_pickle_round_trip_sees_same_files(self, store: Store) -> None:
        store.write_bytes("shared/one", b"1")
        payload = pickle.dumps(store)
        assert len(payload) < 4096
        clone = pickle.loads(payload)
        assert type(clone) is type(store)
        assert clone.read_bytes("shared/one") == b"1"
        clone.write_bytes("shared/two", b"2")
        assert store.read_bytes("shared/two") == b"2"
        assert pickle.loads(pickle.dumps(clone)).listdir("shared") == ["one", "two"]

    def test_uri_format(self, store: Store, tmp_path: Path) -> None:
        root = self.expected_uri_root(tmp_path)
        if root is None:
            with pytest.raises(NotImplementedError, match="uri"):
                store.uri("runs/m")
            return
        assert store.uri("") == root
        assert store.uri("runs/m/state.npz") == root + "/runs/m/state.npz"
        store.write_bytes(store.uri("via/uri"), b"u")
        assert store.read_bytes("via/uri") == b"u"
        assert store.fs_path(store.uri("via/uri")) == store.fs_path("via/uri")

    def test_pyarrow_parquet_interop(self, store: Store) -> None:
        table = pa.table({"x": list(range(10)), "y": [float(i) for i in range(10)]})
        staging = store.temp_key(store.train_data_key())
        store.makedirs(staging)
        pq.write_table(table, store.fs_path(f"{staging}/part-0.parquet"),
                       filesystem=store.filesystem)
        store.move_atomic(staging, store.train_data_key())
        back = pq.read_table(store.fs_path("data/train"), filesystem=store.filesystem)
        assert back.sort_by("x").equals(table)

    def test_property_round_trip(self, store: Store) -> None:
        @settings(max_examples=25, deadline=None)
        @given(data=st.binary(max_size=2048),
               name=st.text("abcxyz_-.0123456789", min_size=1, max_size=12)
               .filter(lambda n: n.strip(".") != ""))
        def check(data: bytes, name: str) -> None:
            store.write_bytes(f"prop/{name}", data)
            assert store.read_bytes(f"prop/{name}") == data
            assert name in store.listdir("prop")
            assert all(".tmp-" not in n for n in _all_names(store, "prop"))

        check()


class TestLocalStore(StoreConformance):
    def make_store(self, tmp_path: Path) -> Store:
        return LocalStore(tmp_path / "store")

    def expected_uri_root(self, tmp_path: Path) -> str:
        return "file://" + str(tmp_path / "store")


class TestHDFSStoreOverFileUri(StoreConformance):
    def make_store(self, tmp_path: Path) -> Store:
        return HDFSStore("file://" + str(tmp_path / "store"))

    def expected_uri_root(self, tmp_path: Path) -> str:
        return "file://" + str(tmp_path / "store")


class TestFilesystemStoreOverFsspecMemory(StoreConformance):
    def make_store(self, tmp_path: Path) -> Store:
        fsspec = pytest.importorskip("fsspec")
        fs = pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem("memory")))
        return FilesystemStore(fs, f"/cerebro-test-{uuid.uuid4().hex}")

    @pytest.fixture
    def store(self, tmp_path: Path):
        store = self.make_store(tmp_path)
        yield store
        if store.exists(""):  # the fsspec memory filesystem is process-global
            store.filesystem.delete_dir(store.fs_path(""))

    def expected_uri_root(self, tmp_path: Path) -> None:
        return None


class TestFilesystemStoreOverSubTree(StoreConformance):
    def make_store(self, tmp_path: Path) -> Store:
        return FilesystemStore(pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem()),
                               "store")

    def expected_uri_root(self, tmp_path: Path) -> str:
        return "file://" + str(tmp_path / "store")


# -------------------------------------------------------------------- factory & HDFS
def test_create_dispatches_on_scheme(tmp_path: Path) -> None:
    assert type(Store.create(str(tmp_path / "a"))) is LocalStore
    local = Store.create("file://" + str(tmp_path / "b"), train_path="custom/train")
    assert type(local) is LocalStore and local.train_data_key() == "custom/train"
    assert local.fs_path("") == str(tmp_path / "b")
    assert type(Store.create("hdfs://127.0.0.1:1/x")) is HDFSStore  # no connection yet
    mock = Store.create("mock:///bucket/root", runs_path="/elsewhere/runs")
    assert type(mock) is FilesystemStore and mock.runs_key() == "/elsewhere/runs"
    mock.write_bytes("k", b"v")
    assert mock.read_bytes("k") == b"v"
    assert mock.uri("k") == "mock://bucket/root/k"


def test_local_store_makes_relative_prefix_absolute(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = LocalStore("rel/store")
    assert store.fs_path("") == str(tmp_path / "rel" / "store")
    assert (tmp_path / "rel" / "store").is_dir()


@pytest.mark.parametrize(
    "kwargs",
    [{"prefix_path": "hdfs://127.0.0.1:1/x"},
     {"prefix_path": "/x", "host": "127.0.0.1", "port": 1, "user": "me"}],
)
def test_unreachable_hdfs_fails_clearly_on_first_use(kwargs) -> None:
    start = time.monotonic()
    store = HDFSStore(**kwargs)
    assert store.uri("runs/m") == "hdfs://127.0.0.1:1/x/runs/m"
    assert store.fs_path("runs/m") == "/x/runs/m"
    clone = pickle.loads(pickle.dumps(store))
    for s in (store, clone):
        with pytest.raises(RuntimeError, match="HDFS could not be reached") as info:
            s.exists("runs")
        assert len(str(info.value)) < 1000
    assert time.monotonic() - start < 10


class TestS3StoreOnMotoServer(StoreConformance):
    """The same suite against a real S3-protocol server (moto) on 127.0.0.1."""

    @pytest.fixture
    def store(self, tmp_path: Path, s3_endpoint: str) -> Store:
        from s3_server import s3_store

        return s3_store(s3_endpoint)

    def expected_uri_root(self, tmp_path: Path) -> None:
        raise AssertionError("not used: test_uri_format is overridden")

    def test_uri_format(self, store: Store, tmp_path: Path) -> None:
        root = f"s3://{store.root}"
        assert store.uri("") == root
        assert store.uri("runs/m/state.npz") == root + "/runs/m/state.npz"
        store.write_bytes(store.uri("via/uri"), b"u")
        assert store.read_bytes("via/uri") == b"u"
        assert store.fs_path(store.uri("via/uri")) == store.fs_path("via/uri")
        assert store.fs_path("s3a://" + store.root + "/x") == store.fs_path("x")

    def test_open_output_publishes_only_on_success(self, store: Store) -> None:
        _check_open_output(store)


def _check_open_output(store: Store) -> None:
    with store.open_output("out/a.bin") as out:
        out.write(b"first")
    assert store.read_bytes("out/a.bin") == b"first"
    with pytest.raises(RuntimeError, match="boom"):
        with store.open_output("out/a.bin") as out:
            out.write(b"half of a second")
            raise RuntimeError("boom")
    assert store.read_bytes("out/a.bin") == b"first"
    assert _all_names(store, "out") == ["a.bin"]


def test_open_output_on_local_store(tmp_path: Path) -> None:
    _check_open_output(LocalStore(tmp_path / "s"))


def test_create_gives_s3_store_for_s3_uris() -> None:
    from cerebro.storage import S3Store

    store = Store.create("s3://bkt/some/prefix/", endpoint_override="http://127.0.0.1:1")
    assert type(store) is S3Store and store.root == "bkt/some/prefix" and store.bucket == "bkt"
    assert store._s3_options["scheme"] == "http"  # taken from the endpoint URL
    assert len(pickle.dumps(store)) < 4096  # no connection yet, none pickled
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        S3Store("/not/s3")


def test_dataset_keys_are_content_addressed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s", train_path="custom/train")
    assert store.shards_key("train", "ab12") == "custom/train/ab12"
    assert store.shards_key("val", "ab12") == "data/val/ab12"
    assert store.dataset_key("ab12") == "data/datasets/ab12.json"
    with pytest.raises(ValueError):
        store.shards_key("test", "ab12")
    with pytest.raises(ValueError):
        store.dataset_key("../x")
