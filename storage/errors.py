"""Errors of storage/: one base class; each adapter wraps its library's errors into these.

Messages are one line meant for an operator (the CLI prints them without a traceback) and
never contain a secret. The original error stays reachable as ``__cause__``.
"""
from __future__ import annotations


class StorageError(Exception):
    """Base of every error storage/ raises. ``retryable`` says whether trying again may help."""

    retryable: bool = False


class BlobNotFound(StorageError):
    """No blob is stored under the key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no blob under key {key!r}")
        self.key = key


class InvalidKey(StorageError):
    """The key breaks the key rules (see ``storage.base.validate_key``): a caller bug."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"invalid blob key {key!r}: {reason}")
        self.key = key
        self.reason = reason


class StorageUnavailable(StorageError):
    """The store could not be reached or answered with a server error; retry later."""

    retryable = True


class StorageAuthError(StorageError):
    """The store refused our credentials or permissions: a configuration problem."""


class StorageFull(StorageError):
    """No space left on the device or in the bucket's quota."""


class BlobRetained(StorageError):
    """The store refused to erase a blob it must keep (Object Lock retention or legal hold)."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"blob {key!r} is under retention (Object Lock) and cannot be erased yet"
        )
        self.key = key
