"""FileStore on the real file system: confinement, atomic writes, modes, a full disk."""
from __future__ import annotations

import errno
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import FileStore, InvalidKey, StorageError, StorageFull
from storage import filestore as filestore_module
from tests.integration.storage.streams import Failing


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the store root holding a file the store must never reach."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret").write_bytes(b"not yours")
    return path


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0)  # modes must come from the store, not from a strict umask
    try:
        yield
    finally:
        os.umask(old)


def all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())


def test_symlinked_directory_cannot_lead_outside(file_store: FileStore, outside: Path) -> None:
    (file_store.root / "docs").symlink_to(outside, target_is_directory=True)
    for call in (lambda: file_store.put("docs/new", io.BytesIO(b"x")),
                 lambda: file_store.open("docs/secret"),
                 lambda: file_store.stat("docs/secret"),
                 lambda: file_store.exists("docs/secret"),
                 lambda: file_store.delete("docs/secret")):
        with pytest.raises(InvalidKey):
            call()
    assert sorted(os.listdir(outside)) == ["secret"]
    assert list(file_store.list("")) == []
    assert list(file_store.list("docs/")) == []


def test_symlinked_file_cannot_lead_outside(file_store: FileStore, outside: Path) -> None:
    (file_store.root / "leak").symlink_to(outside / "secret")
    with pytest.raises(InvalidKey):
        file_store.open("leak")
    with pytest.raises(InvalidKey):
        file_store.put("leak", io.BytesIO(b"overwrite"))
    assert (outside / "secret").read_bytes() == b"not yours"
    assert list(file_store.list("")) == []


def test_traversal_is_refused(file_store: FileStore, outside: Path) -> None:
    for bad in ("../outside/secret", "docs/../../outside/secret", str(outside / "secret")):
        with pytest.raises(InvalidKey):
            file_store.open(bad)


def test_puts_leave_no_temp_files(file_store: FileStore) -> None:
    for i in range(20):
        file_store.put(f"docs/ab/{i:02d}", io.BytesIO(os.urandom(1000)))
    with pytest.raises(ConnectionResetError):
        file_store.put("docs/ab/99", io.BufferedReader(Failing(3 * 1024 * 1024)))
    assert all_files(file_store.root) == [f"docs/ab/{i:02d}" for i in range(20)]


def test_disk_full_leaves_nothing_and_keeps_the_old_blob(
    file_store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    file_store.put("docs/full", io.BytesIO(b"old"))
    real_write = filestore_module._write_all
    calls = []

    def fill_up(fd: int, data: bytes) -> None:
        calls.append(len(data))
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(fd, data)

    monkeypatch.setattr(filestore_module, "_write_all", fill_up)
    with pytest.raises(StorageFull) as caught:
        file_store.put("docs/full", io.BytesIO(os.urandom(3 * 1024 * 1024)))
    assert "docs/full" in str(caught.value)
    assert all_files(file_store.root) == ["docs/full"]
    with file_store.open("docs/full") as blob:
        assert blob.read() == b"old"


def test_files_0600_and_directories_0700(tmp_path: Path, permissive_umask: None) -> None:
    store = FileStore(tmp_path / "new" / "blobs")
    store.put("docs/ab/cd/ef", io.BytesIO(b"x"))
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    for path in store.root.rglob("*"):
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == expected, path


def test_list_skips_names_that_are_not_keys(file_store: FileStore) -> None:
    file_store.put("docs/a", io.BytesIO(b"x"))
    (file_store.root / "docs" / "README.TXT").write_text("operator's note")
    (file_store.root / "docs" / ".~tmp-crashed").write_bytes(b"half")
    assert list(file_store.list("")) == ["docs/a"]


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError):
        FileStore(tmp_path / "file")


def test_key_under_an_existing_blob_is_a_storage_error(file_store: FileStore) -> None:
    file_store.put("docs/a", io.BytesIO(b"x"))
    with pytest.raises(StorageError):
        file_store.put("docs/a/b", io.BytesIO(b"y"))
    assert all_files(file_store.root) == ["docs/a"]
