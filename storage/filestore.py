"""FileStore: blobs as files under one root directory (the embedded default).

Durability: a put writes a temp file in the target's directory, fsyncs it, renames it over
the target and fsyncs the directory, so a crash leaves the old blob or the new one, never a
mix. Temp names contain ``~``, which no key may, so they can never be mistaken for blobs.

Confinement: every key is validated and its resolved path must stay under the resolved
root, so neither ``..`` nor a symlink planted inside the root can reach outside it.

Privacy: files are created 0600 and directories 0700 (the root's own mode, if it already
exists, is left to the operator).

``stat`` computes the SHA-256 by reading the file rather than trusting a sidecar: it then
reports the bytes actually on disk (catching bit rot), and there is no second file to keep
consistent. It costs one read of the blob, which is fine for integrity checks, its use.

Limitation: a key cannot also be the directory of another key (``a/b`` and ``a/b/c``);
server-made keys have a fixed depth, so this does not arise. Such a put raises StorageError.
"""
from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from storage.base import (
    BlobStat,
    copy_with_digest,
    is_valid_key,
    validate_key,
    validate_prefix,
)
from storage.errors import BlobNotFound, InvalidKey, StorageError, StorageFull

_TEMP_PREFIX = ".~tmp-"
_FULL = (errno.ENOSPC, errno.EDQUOT)


class FileStore:
    """A ``BlobStore`` keeping each blob as one file under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        path = Path(root)
        with _os_errors(str(root)):
            if not path.exists():
                path.mkdir(mode=0o700, parents=True)
                os.chmod(path, 0o700)
            self._root = path.resolve(strict=True)
        if not self._root.is_dir():
            raise StorageError(f"file store root {str(self._root)!r} is not a directory")

    @property
    def root(self) -> Path:
        return self._root

    def __repr__(self) -> str:
        return f"FileStore({str(self._root)!r})"

    def put(self, key: str, stream: BinaryIO) -> BlobStat:
        path = self._path(key)
        with _os_errors(key):
            self._make_dirs(path.parent)
            fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=path.parent)  # mode 0600
        try:
            def write(chunk: bytes) -> None:
                with _os_errors(key):
                    _write_all(fd, chunk)

            stat = copy_with_digest(stream, write)
            with _os_errors(key):
                os.fsync(fd)
                fd, closing = -1, fd
                os.close(closing)
                os.replace(tmp, path)
        except BaseException:
            # Whatever failed (the caller's stream, a full disk, an interrupt), leave nothing.
            if fd >= 0:
                os.close(fd)
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        with _os_errors(key):
            _fsync_dir(path.parent)
        return stat

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise BlobNotFound(key) from exc
        except OSError as exc:
            raise _wrap(exc, key) from exc

    def purge(self, key: str) -> None:
        """A file has no older versions: purging is deleting."""
        self.delete(key)

    def delete(self, key: str) -> None:
        path = self._path(key)
        with _os_errors(key):
            try:
                os.unlink(path)
            except (FileNotFoundError, NotADirectoryError):
                return  # idempotent: the blob is gone either way
            _fsync_dir(path.parent)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def stat(self, key: str) -> BlobStat:
        with self.open(key) as blob, _os_errors(key):
            return copy_with_digest(blob, lambda chunk: None)

    def list(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        # Walk only the deepest directory the prefix names, not the whole tree.
        base = prefix.rpartition("/")[0]
        start = self._root.joinpath(*base.split("/")) if base else self._root
        if not start.resolve().is_relative_to(self._root):
            return iter(())
        return (key for key in self._walk(start, base) if key.startswith(prefix))

    def _walk(self, directory: Path, rel: str) -> Iterator[str]:
        try:
            with os.scandir(directory) as it:
                entries = [e for e in it if is_valid_key(e.name)]
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise _wrap(exc, rel) from exc
        # Sorting a directory as "name/" makes the walk yield keys in plain string order
        # ("a-c" < "a/b"), the order S3 lists in.
        entries.sort(key=lambda e: e.name + "/" if e.is_dir(follow_symlinks=False) else e.name)
        for entry in entries:
            key = f"{rel}/{entry.name}" if rel else entry.name
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(Path(entry.path), key)
            elif entry.is_file(follow_symlinks=False):
                yield key

    def _path(self, key: str) -> Path:
        validate_key(key)
        path = self._root.joinpath(*key.split("/"))
        # resolve() follows every symlink on the way; the result must still be ours.
        if not path.resolve().is_relative_to(self._root):
            raise InvalidKey(key, "resolves outside the store root")
        return path

    def _make_dirs(self, directory: Path) -> None:
        missing = []
        while not directory.is_dir():
            missing.append(directory)
            directory = directory.parent
        for new in reversed(missing):
            try:
                new.mkdir(mode=0o700)
            except FileExistsError:
                continue  # a concurrent put made it
            os.chmod(new, 0o700)  # mkdir's mode is filtered by the umask
            # The new entry must be durable before a file inside it is renamed into place.
            _fsync_dir(new.parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _wrap(exc: OSError, key: str) -> StorageError:
    if exc.errno in _FULL:
        return StorageFull(f"no space left to store {key!r}: {exc.strerror}")
    return StorageError(f"file store failed on {key!r}: {exc.strerror or exc}")


@contextmanager
def _os_errors(key: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise _wrap(exc, key) from exc
