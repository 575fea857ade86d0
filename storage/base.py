"""The blob store port: the ``BlobStore`` protocol, ``BlobStat``, and the rules for keys.

A blob store keeps opaque bytes under keys that the server makes (``docs/ab/cd/<hex>``).
It never sees a user's file name, so keys are held to a narrow alphabet; anything else is
a caller bug and raises ``InvalidKey`` before any I/O.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable

from storage.errors import InvalidKey

MAX_KEY_LENGTH = 512
# Streams are copied in pieces of this size, so memory stays flat whatever the blob size.
CHUNK_SIZE = 1024 * 1024

_KEY_CHARS = re.compile(r"[a-z0-9/._-]*")


@dataclass(frozen=True)
class BlobStat:
    """What a store knows about one blob: its size and the SHA-256 (hex) of its bytes."""

    size: int
    sha256: str


@runtime_checkable
class BlobStore(Protocol):
    """Opaque bytes under server-made keys. Every method raises only ``StorageError``s
    (errors raised by the caller's own stream pass through ``put`` unchanged)."""

    def put(self, key: str, stream: BinaryIO) -> BlobStat:
        """Store the stream's bytes under key, replacing any blob there; all or nothing."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A readable, closeable file-like over the blob; read it in pieces."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing key is not an error (idempotent)."""
        ...

    def purge(self, key: str) -> None:
        """Erase the blob for good (every version); ``BlobRetained`` while a retention holds."""
        ...

    def exists(self, key: str) -> bool:
        """Whether a blob is stored under key."""
        ...

    def stat(self, key: str) -> BlobStat:
        """Size and SHA-256 of the stored blob."""
        ...

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with prefix (a plain string prefix, as in S3), in sorted order."""
        ...


def validate_key(key: str) -> str:
    """Return key if it is a well-formed blob key, else raise ``InvalidKey``.

    Rules: 1..512 characters from ``[a-z0-9/._-]``; ``/`` separates non-empty segments
    (so no leading, trailing or doubled ``/``); no ``.`` or ``..`` segment (they would
    alias or escape paths in the file store).
    """
    _check_text(key)
    if not key:
        raise InvalidKey(key, "empty")
    _check_segments(key, key.split("/"))
    return key


def validate_prefix(prefix: str) -> str:
    """Return prefix if valid keys may start with it (``""`` lists all), else ``InvalidKey``."""
    _check_text(prefix)
    # The last segment of a prefix may still grow (``docs/a`` -> ``docs/ab``); check the rest.
    _check_segments(prefix, prefix.split("/")[:-1])
    return prefix


def is_valid_key(key: str) -> bool:
    """Whether key passes ``validate_key``; used to skip foreign names when listing."""
    try:
        validate_key(key)
    except InvalidKey:
        return False
    return True


def _check_text(text: str) -> None:
    if not isinstance(text, str):
        raise InvalidKey(repr(text), "not a string")
    if len(text) > MAX_KEY_LENGTH:
        raise InvalidKey(text[:32] + "...", f"longer than {MAX_KEY_LENGTH} characters")
    if not _KEY_CHARS.fullmatch(text):
        raise InvalidKey(text, "allowed characters are a-z 0-9 / . _ -")


def _check_segments(text: str, segments: list[str]) -> None:
    for segment in segments:
        if not segment:
            raise InvalidKey(text, "leading, trailing or doubled '/'")
        if segment in (".", ".."):
            raise InvalidKey(text, f"'{segment}' segment")


def copy_with_digest(stream: BinaryIO, write: Callable[[bytes], object]) -> BlobStat:
    """Copy stream to write() in bounded pieces, hashing and counting on the way.

    Errors raised by stream.read propagate unchanged: they are the caller's, not ours.
    """
    digest = hashlib.sha256()
    size = 0
    while True:
        chunk = stream.read(CHUNK_SIZE)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
        write(chunk)
    return BlobStat(size=size, sha256=digest.hexdigest())
