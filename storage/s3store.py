"""S3Store: blobs as objects in one bucket of any S3-compatible service (boto3).

Tested against SeaweedFS; written for AWS S3, MinIO and Ceph RGW too: path-style addressing,
SigV4, Content-MD5 on every upload (which Object Lock requires), and botocore's newer
default CRC checksums switched off because several S3-compatible servers reject them.

Why spool: S3 fixes user metadata when an upload starts, but the SHA-256 is known only after
the last byte. So ``put`` first reads the stream, hashing on the way, into memory up to
``multipart_threshold`` (then one PutObject) and beyond it into a spool on local disk (then a
multipart upload read back one part at a time). Memory stays bounded by
one part, ``stat`` is one HEAD (``x-amz-meta-sha256``), the metadata is immutable under
Object Lock, and a failing caller stream never reaches the server. The cost is local disk
equal to the blob size (``spool_dir``) while a large put runs.
"""
from __future__ import annotations

import base64
import contextlib
import errno
import functools
import hashlib
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from tempfile import TemporaryFile
from typing import IO, Any, BinaryIO, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from storage.base import (
    CHUNK_SIZE,
    BlobStat,
    copy_with_digest,
    is_valid_key,
    validate_key,
    validate_prefix,
)
from storage.errors import BlobNotFound, BlobRetained, StorageError, StorageFull
from storage.s3errors import translate
from storage.s3reader import open_body

MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # S3's minimum for every part but the last
MAX_PARTS = 10_000
LockMode = Literal["COMPLIANCE", "GOVERNANCE"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class S3Store:
    """A ``BlobStore`` keeping each blob as one object in ``bucket``.

    ``object_lock_days`` puts every new object under Object Lock retention for that many
    days (the bucket must have Object Lock enabled). Credentials: pass both keys, or
    neither to use boto3's default chain. ``clock`` is a parameter so tests need no sleep.
    """

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
        object_lock_days: int | None = None,
        object_lock_mode: LockMode = "COMPLIANCE",
        multipart_threshold: int = 8 * MIB,
        part_size: int = 8 * MIB,
        connect_timeout: float = 5,
        read_timeout: float = 30,
        max_attempts: int = 5,
        spool_dir: str | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if (access_key is None) != (secret_key is None):
            raise StorageError("give both the S3 access key and secret key, or neither")
        if object_lock_days is not None and object_lock_days < 1:
            raise StorageError(f"object_lock_days must be at least 1, not {object_lock_days}")
        if object_lock_mode not in ("COMPLIANCE", "GOVERNANCE"):
            raise StorageError(f"object_lock_mode is COMPLIANCE or GOVERNANCE, not "
                               f"{object_lock_mode!r}")
        if part_size < MIN_PART_SIZE or multipart_threshold < 1:
            raise StorageError(f"part_size must be at least {MIN_PART_SIZE} (S3's minimum) "
                               "and multipart_threshold positive")
        self.bucket = bucket
        self.object_lock_days = object_lock_days
        self.object_lock_mode = object_lock_mode
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self._spool_dir = spool_dir
        self._clock = clock
        self._where = endpoint_url or "AWS S3"
        self._errors = functools.partial(translate, bucket=bucket, where=self._where)
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            # Config's own "max_attempts" counts retries only; "total" includes the first try,
            # as max_attempts does in AWS config files.
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # botocore >= 1.36 adds CRC trailers by default; many S3-compatible servers refuse
            # them. We send Content-MD5 ourselves instead, which every server checks.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A session of our own: boto3's default session is not safe to share across threads.
        session = boto3.session.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=session_token,
            region_name=region,
        )
        self.client: Any = session.client("s3", endpoint_url=endpoint_url, config=config)

    def __repr__(self) -> str:
        return f"S3Store(bucket={self.bucket!r}, endpoint={self._where!r})"

    def put(self, key: str, stream: BinaryIO) -> BlobStat:
        validate_key(key)
        # Most blobs fit one PutObject: gather them in memory (as the spool would, up to the
        # same threshold), hashing on the way, so the bytes are not copied and read again.
        pieces: list[bytes] = []
        size, sha256 = 0, hashlib.sha256()
        md5 = hashlib.md5(usedforsecurity=False)  # transfer integrity (Content-MD5), not security
        while size <= self.multipart_threshold and (piece := stream.read(CHUNK_SIZE)):
            pieces.append(piece)
            size += len(piece)
            sha256.update(piece)
            md5.update(piece)
        if size > self.multipart_threshold:
            return self._put_spooled(key, pieces, stream)
        stat = BlobStat(size=size, sha256=sha256.hexdigest())
        with self._errors(key):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=b"".join(pieces),
                                   ContentMD5=base64.b64encode(md5.digest()).decode(),
                                   **self._extra(stat))
        return stat

    def _extra(self, stat: BlobStat) -> dict[str, Any]:
        return {"Metadata": {"sha256": stat.sha256},
                "ContentType": "application/octet-stream", **self._lock_args()}

    def _put_spooled(self, key: str, head: list[bytes], stream: BinaryIO) -> BlobStat:
        """A blob over the threshold: spool it to local disk (it would not stay in memory
        anyway), then upload it in parts. ``head`` is what was read already."""
        head.reverse()  # handed on (and freed) piece by piece
        with TemporaryFile(dir=self._spool_dir) as spool:
            def write(chunk: bytes) -> None:
                try:
                    spool.write(chunk)
                except OSError as exc:
                    cls = StorageFull if exc.errno == errno.ENOSPC else StorageError
                    raise cls(f"cannot spool {key!r} to local disk: {exc.strerror}") from exc

            class _Rest:  # what was read already, then the rest of the stream
                @staticmethod
                def read(n: int) -> bytes:
                    return head.pop() if head else stream.read(n)

            stat = copy_with_digest(_Rest, write)  # type: ignore[arg-type]
            spool.seek(0)
            with self._errors(key):
                self._put_multipart(key, spool, stat.size, self._extra(stat))
        return stat

    def _put_multipart(self, key: str, spool: IO[bytes], size: int, extra: dict[str, Any]) -> None:
        # Grow parts for huge blobs so they fit S3's 10,000-part limit.
        part_size = max(self.part_size, math.ceil(size / MAX_PARTS))
        upload_id = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, **extra)["UploadId"]
        try:
            parts = []
            number = 1
            while body := spool.read(part_size):
                reply = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                                PartNumber=number, Body=body,
                                                ContentMD5=_md5(body))
                parts.append({"PartNumber": number, "ETag": reply["ETag"]})
                number += 1
            self.client.complete_multipart_upload(Bucket=self.bucket, Key=key,
                                                  UploadId=upload_id,
                                                  MultipartUpload={"Parts": parts})
        except BaseException:
            # Parts of an unfinished upload are stored (and billed) until aborted.
            # Best effort: the original failure is the one to report.
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key,
                                                   UploadId=upload_id)
            raise

    def open(self, key: str) -> BinaryIO:
        validate_key(key)
        with self._errors(key):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return open_body(body, functools.partial(self._errors, key))

    def delete(self, key: str) -> None:
        """Delete the object (idempotent). In a versioned bucket this adds a delete marker;
        retained versions stay until ``purge`` may remove them."""
        validate_key(key)
        with self._errors(key):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def purge(self, key: str) -> None:
        """Erase every version of key; ``BlobRetained`` while Object Lock still holds one."""
        validate_key(key)
        pages = self.client.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=key)
        with self._errors(key):
            for page in pages:
                for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    if entry["Key"] == key:
                        self._delete_version(key, entry["VersionId"])

    def _delete_version(self, key: str, version: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=version)
        except ClientError as exc:
            # S3 says AccessDenied both for retention and for a missing permission.
            if exc.response.get("Error", {}).get("Code") != "AccessDenied":
                raise
            head = self.client.head_object(Bucket=self.bucket, Key=key, VersionId=version)
            until = head.get("ObjectLockRetainUntilDate")
            if (until and until > self._clock()) or head.get("ObjectLockLegalHoldStatus") == "ON":
                raise BlobRetained(key) from exc
            raise

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except BlobNotFound:
            return False
        return True

    def stat(self, key: str) -> BlobStat:
        head = self._head(key)
        digest = head.get("Metadata", {}).get("sha256", "")
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            # Written by another client: hash the bytes, as FileStore always does.
            with self.open(key) as blob:
                digest = copy_with_digest(blob, lambda chunk: None).sha256
        return BlobStat(size=head["ContentLength"], sha256=digest)

    def list(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix)
        return self._keys(iter(pages), prefix)

    def _keys(self, pages: Iterator[dict[str, Any]], prefix: str) -> Iterator[str]:
        while True:
            with self._errors(prefix):
                page = next(pages, None)
            if page is None:
                return
            # Objects other clients wrote under names we cannot address are skipped.
            yield from (o["Key"] for o in page.get("Contents", []) if is_valid_key(o["Key"]))

    def ensure_bucket(self, object_lock: bool = False) -> None:
        """Create the bucket if missing (with Object Lock if asked); for init and tests.

        An existing bucket is accepted if we can reach it and, when asked, it has Object
        Lock enabled (which S3 allows only at creation).
        """
        args: dict[str, Any] = {"Bucket": self.bucket}
        region = self.client.meta.region_name
        if region and region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        if object_lock:
            args["ObjectLockEnabledForBucket"] = True
        with self._errors(self.bucket):
            try:
                self.client.create_bucket(**args)
                return
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
            self.client.head_bucket(Bucket=self.bucket)  # someone else's bucket: 403
            if object_lock and not self._has_object_lock():
                raise StorageError(f"bucket {self.bucket!r} exists without Object Lock; "
                                   "S3 enables it only when a bucket is created")

    def _has_object_lock(self) -> bool:
        try:
            conf = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ObjectLockConfigurationNotFoundError":
                return False
            raise
        enabled: str = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled", "")
        return enabled == "Enabled"

    def _head(self, key: str) -> dict[str, Any]:
        validate_key(key)
        with self._errors(key):
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key)
        return head

    def _lock_args(self) -> dict[str, Any]:
        if self.object_lock_days is None:
            return {}
        until = self._clock() + timedelta(days=self.object_lock_days)
        return {"ObjectLockMode": self.object_lock_mode, "ObjectLockRetainUntilDate": until}


def _md5(body: bytes) -> str:
    # Integrity of the transfer (S3 checks it), not security.
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
