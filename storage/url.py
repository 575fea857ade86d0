"""Storage URLs: ``POSTBOX_STORAGE_URL`` turned into a configured ``BlobStore``.

- ``file:///abs/path`` -> FileStore rooted there (the embedded default).
- ``s3://bucket?endpoint=http://127.0.0.1:9000&region=us-east-1&object_lock_days=3650
  &object_lock_mode=COMPLIANCE`` -> S3Store. Further optional parameters: connect_timeout,
  read_timeout (seconds), max_attempts, multipart_threshold, part_size (bytes).
  Credentials come from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (and
  ``AWS_SESSION_TOKEN``) in env, else boto3's default chain. Never from the URL: URLs end
  up in logs, so a URL with a user part is refused.

Unknown parameters are refused, so a typo fails at start-up instead of being ignored.
Error messages never echo the whole URL, in case someone pasted a secret into it.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from storage.base import BlobStore
from storage.errors import StorageError
from storage.filestore import FileStore

if TYPE_CHECKING:
    from storage.s3store import S3Store

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _endpoint(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL")
    return value


def _lock_mode(value: str) -> str:
    if value not in ("COMPLIANCE", "GOVERNANCE"):
        raise ValueError("expected COMPLIANCE or GOVERNANCE")
    return value


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(value: str) -> Any:
        try:
            number = kind(value)
        except ValueError:
            number = 0
        if not number > 0:
            raise ValueError("expected a positive number")
        return number
    return parse


_S3_PARAMS: dict[str, tuple[str, Callable[[str], Any]]] = {
    # URL parameter: (S3Store argument, parser)
    "endpoint": ("endpoint_url", _endpoint),
    "region": ("region", str),
    "object_lock_days": ("object_lock_days", _positive(int)),
    "object_lock_mode": ("object_lock_mode", _lock_mode),
    "connect_timeout": ("connect_timeout", _positive(float)),
    "read_timeout": ("read_timeout", _positive(float)),
    "max_attempts": ("max_attempts", _positive(int)),
    "multipart_threshold": ("multipart_threshold", _positive(int)),
    "part_size": ("part_size", _positive(int)),
}


def open_store(url: str, env: Mapping[str, str]) -> BlobStore:
    """The store a storage URL names; ``StorageError`` with a clear message if malformed."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise StorageError(f"malformed storage URL: {exc}") from exc
    if parts.username is not None or parts.password is not None:
        raise StorageError("storage URL must not contain credentials; "
                           "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead")
    if parts.fragment:
        raise StorageError("storage URL must not have a #fragment")
    if parts.scheme == "file":
        return _file_store(parts.netloc, parts.path, parts.query)
    if parts.scheme == "s3":
        return _s3_store(parts.netloc, parts.path, parts.query, env)
    raise StorageError(f"unsupported storage URL scheme {parts.scheme!r}: use "
                       "file:///absolute/path or s3://bucket?endpoint=...")


def _file_store(host: str, path: str, query: str) -> FileStore:
    if host not in ("", "localhost"):
        raise StorageError("file storage URL must be file:///absolute/path (no host)")
    if query:
        raise StorageError("file storage URL takes no parameters")
    if not path.startswith("/"):
        raise StorageError("file storage URL needs an absolute path: file:///absolute/path")
    return FileStore(unquote(path))


def _s3_store(bucket: str, path: str, query: str, env: Mapping[str, str]) -> S3Store:
    if not _BUCKET.fullmatch(bucket):
        raise StorageError(f"invalid S3 bucket name {bucket!r} in storage URL "
                           "(3-63 characters: a-z 0-9 . -)")
    if path not in ("", "/"):
        raise StorageError("S3 storage URL is s3://bucket?...; a key prefix path is not "
                           "supported")
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise StorageError(f"malformed query in S3 storage URL: {exc}") from exc
    kwargs: dict[str, Any] = {}
    for name, values in params.items():
        if name not in _S3_PARAMS:
            known = ", ".join(sorted(_S3_PARAMS))
            raise StorageError(f"unknown S3 storage URL parameter {name!r} (known: {known})")
        if len(values) != 1 or not values[0]:
            raise StorageError(f"S3 storage URL parameter {name!r} needs exactly one value")
        argument, parse = _S3_PARAMS[name]
        try:
            kwargs[argument] = parse(values[0])
        except ValueError as exc:
            raise StorageError(f"bad value {values[0]!r} for S3 storage URL parameter "
                               f"{name!r}: {exc}") from exc
    kwargs.setdefault("region", env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
                      or "us-east-1")
    access_key, secret_key = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if bool(access_key) != bool(secret_key):
        raise StorageError("set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither")
    if access_key and secret_key:
        kwargs.update(access_key=access_key, secret_key=secret_key,
                      session_token=env.get("AWS_SESSION_TOKEN") or None)
    # Imported here so a file-store deployment never loads boto3 (about 0.1 s at start-up).
    from storage.s3store import S3Store

    return S3Store(bucket, **kwargs)

