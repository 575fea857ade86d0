"""The BlobStore contract: every store passes the same tests (FileStore, S3Store on SeaweedFS)."""
from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

from storage import BlobNotFound, BlobStat, BlobStore, FileStore, InvalidKey
from storage.s3store import S3Store
from tests.integration.storage.streams import Failing, Generated

MIB = 1024 * 1024
BAD_KEYS = [
    "../x", "docs/../../x", "/abs", "a//b", "a/", "", "a/./b", ".", "a\x00b",
    "Docs/A", "dökument", "a b", "a\\b", "x" * 513,
]


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest) -> BlobStore:
    fixture = "file_store" if request.param == "file" else "s3_store"
    store: BlobStore = request.getfixturevalue(fixture)
    return store


def key() -> str:
    """A server-made style key, unique per call."""
    return f"docs/ab/cd/{os.urandom(8).hex()}"


def stat_of(data: bytes) -> BlobStat:
    return BlobStat(size=len(data), sha256=hashlib.sha256(data).hexdigest())


def read_in_pieces(blob: BinaryIO, size: int = 64 * 1024) -> bytes:
    pieces = []
    with blob as stream:
        while piece := stream.read(size):
            assert len(piece) <= size
            pieces.append(piece)
    return b"".join(pieces)


def leftovers(store: BlobStore) -> list[str]:
    """Everything the store holds: every file (blobs, temp files), or every object and
    unfinished multipart upload."""
    if isinstance(store, FileStore):
        return [str(p) for p in Path(store.root).rglob("*") if p.is_file()]
    assert isinstance(store, S3Store)
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    objects = store.client.list_objects_v2(Bucket=store.bucket).get("Contents", [])
    return [u["Key"] for u in uploads] + [o["Key"] for o in objects]


def test_implements_the_protocol(store: BlobStore) -> None:
    assert isinstance(store, BlobStore)


def test_round_trip(store: BlobStore) -> None:
    k, data = key(), os.urandom(300_000)
    assert store.put(k, io.BytesIO(data)) == stat_of(data)
    assert read_in_pieces(store.open(k)) == data
    assert store.stat(k) == stat_of(data)


def test_empty_blob(store: BlobStore) -> None:
    k = key()
    assert store.put(k, io.BytesIO(b"")) == stat_of(b"")
    assert store.exists(k)
    with store.open(k) as blob:
        assert blob.read() == b""
    assert store.stat(k) == stat_of(b"")


def test_multipart_sized_blob(store: BlobStore) -> None:
    # 11 MiB: three parts at the 5 MiB part size the S3 fixture uses.
    k, data = key(), os.urandom(11 * MIB + 123)
    assert store.put(k, io.BytesIO(data)) == stat_of(data)
    assert hashlib.sha256(read_in_pieces(store.open(k))).hexdigest() == stat_of(data).sha256
    assert store.stat(k) == stat_of(data)
    assert leftovers(store) == ([str(Path(store.root, *k.split("/")))]
                                if isinstance(store, FileStore) else [k])


def test_put_replaces(store: BlobStore) -> None:
    k = key()
    store.put(k, io.BytesIO(b"first"))
    store.put(k, io.BytesIO(b"second"))
    assert read_in_pieces(store.open(k)) == b"second"
    assert store.stat(k) == stat_of(b"second")


def test_exists_and_delete(store: BlobStore) -> None:
    k = key()
    assert not store.exists(k)
    store.put(k, io.BytesIO(b"x"))
    assert store.exists(k)
    store.delete(k)
    assert not store.exists(k)
    with pytest.raises(BlobNotFound):
        store.open(k)


def test_delete_missing_is_idempotent(store: BlobStore) -> None:
    k = key()
    store.delete(k)
    store.put(k, io.BytesIO(b"x"))
    store.delete(k)
    store.delete(k)
    assert not store.exists(k)


def test_missing_blob(store: BlobStore) -> None:
    k = key()
    with pytest.raises(BlobNotFound) as caught:
        store.open(k)
    assert caught.value.key == k
    with pytest.raises(BlobNotFound):
        store.stat(k)


def test_list_by_prefix_in_string_order(store: BlobStore) -> None:
    keys = ["docs/ab/1", "docs/ab/2", "docs/ac/3", "docs/a-c", "docs/a/b", "docs.x", "other/x"]
    for k in keys:
        store.put(k, io.BytesIO(k.encode()))
    assert list(store.list("")) == sorted(keys)
    assert list(store.list("docs/ab/")) == ["docs/ab/1", "docs/ab/2"]
    assert list(store.list("docs/a")) == ["docs/a-c", "docs/a/b", "docs/ab/1", "docs/ab/2",
                                          "docs/ac/3"]
    assert list(store.list("docs/ab/1")) == ["docs/ab/1"]
    assert list(store.list("nothing/")) == []


@pytest.mark.parametrize("bad", BAD_KEYS, ids=repr)
def test_invalid_keys_are_refused(store: BlobStore, bad: str) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.put(bad, io.BytesIO(b"x")),
        lambda: store.open(bad),
        lambda: store.delete(bad),
        lambda: store.exists(bad),
        lambda: store.stat(bad),
    ]
    for call in calls:
        with pytest.raises(InvalidKey):
            call()
    assert leftovers(store) == []


@pytest.mark.parametrize("bad", ["../", "/docs", "a//", "A", "docs/../"])
def test_invalid_prefixes_are_refused(store: BlobStore, bad: str) -> None:
    with pytest.raises(InvalidKey):
        store.list(bad)


@pytest.mark.parametrize("good", [100, 7 * MIB], ids=["small", "multipart-sized"])
def test_failing_stream_leaves_nothing(store: BlobStore, good: int) -> None:
    k = key()
    with pytest.raises(ConnectionResetError):  # the caller's own error, unchanged
        store.put(k, io.BufferedReader(Failing(good)))
    assert not store.exists(k)
    assert leftovers(store) == []


def test_failing_stream_keeps_the_previous_blob(store: BlobStore) -> None:
    k = key()
    store.put(k, io.BytesIO(b"old"))
    with pytest.raises(ConnectionResetError):
        store.put(k, io.BufferedReader(Failing(6 * MIB)))
    assert read_in_pieces(store.open(k)) == b"old"


def test_open_reads_in_bounded_pieces(store: BlobStore) -> None:
    k, data = key(), os.urandom(3 * MIB)
    store.put(k, io.BytesIO(data))
    with store.open(k) as blob:
        assert blob.readable()
        first = blob.read(1000)
        assert first == data[:1000]
        assert blob.read(4096) == data[1000:5096]


def test_memory_stays_bounded(store: BlobStore) -> None:
    # A store that held the whole 40 MiB blob would show it here; one 5 MiB part may be held
    # twice (the spool's memory buffer and the part being sent).
    k = key()
    tracemalloc.start()
    try:
        store.put(k, io.BufferedReader(Generated(40 * MIB)))
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with store.open(k) as blob:
            while blob.read(64 * 1024):
                pass
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert put_peak < 12 * MIB
    assert read_peak < 1 * MIB
    assert store.stat(k).size == 40 * MIB
