"""Blob stores: opaque bytes under server-made keys, behind one small protocol.

- ``base``: the ``BlobStore`` protocol, ``BlobStat`` and the key rules (``validate_key``).
- ``errors``: ``StorageError`` and its subclasses; adapters wrap library errors in them.
- ``filestore``: ``FileStore``, files under one root (the embedded default).
- ``s3store``: ``S3Store``, one bucket of any S3-compatible service via boto3
  (``s3errors`` maps botocore's errors).
- ``url``: ``open_store(url, env)`` builds a store from ``POSTBOX_STORAGE_URL``.

Storage never sees a user's file name and imports only the standard library and boto3.
``S3Store`` is imported on first use, so the file store and the CLI do not pay for boto3.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from storage.base import BlobStat, BlobStore, validate_key
from storage.errors import (
    BlobNotFound,
    BlobRetained,
    InvalidKey,
    StorageAuthError,
    StorageError,
    StorageFull,
    StorageUnavailable,
)
from storage.filestore import FileStore
from storage.url import open_store

if TYPE_CHECKING:
    from storage.s3store import S3Store

__all__ = [
    "BlobNotFound",
    "BlobRetained",
    "BlobStat",
    "BlobStore",
    "FileStore",
    "InvalidKey",
    "S3Store",
    "StorageAuthError",
    "StorageError",
    "StorageFull",
    "StorageUnavailable",
    "open_store",
    "validate_key",
]


def __getattr__(name: str) -> Any:
    if name == "S3Store":
        from storage.s3store import S3Store

        return S3Store
    raise AttributeError(f"module 'storage' has no attribute {name!r}")
