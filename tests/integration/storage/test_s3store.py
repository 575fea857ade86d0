"""S3Store against SeaweedFS: a second client (minio) agrees, auth, Object Lock, outages."""
from __future__ import annotations

import hashlib
import io
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from minio import Minio

from storage import BlobRetained, StorageAuthError, StorageError, StorageUnavailable
from storage.s3store import S3Store
from tests.fixtures.seaweed import S3Server
from tests.integration.storage.stores import MIB

pytestmark = pytest.mark.s3


def minio_client(server: S3Server) -> Minio:
    host = urlsplit(server.endpoint).netloc
    return Minio(host, access_key=server.access_key, secret_key=server.secret_key,
                 secure=False, region=server.region)


def minio_read(client: Minio, bucket: str, key: str) -> bytes:
    response = client.get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


@pytest.mark.parametrize("size", [1000, 11 * MIB], ids=["single", "multipart"])
def test_minio_reads_what_s3store_wrote(s3_server: S3Server, s3_bucket: str,
                                        s3_store: S3Store, size: int) -> None:
    data = os.urandom(size)
    stat = s3_store.put("docs/ab/cd/0001", io.BytesIO(data))
    client = minio_client(s3_server)
    assert minio_read(client, s3_bucket, "docs/ab/cd/0001") == data
    info = client.stat_object(s3_bucket, "docs/ab/cd/0001")
    assert info.size == size and info.metadata is not None
    assert info.metadata["x-amz-meta-sha256"] == stat.sha256 == hashlib.sha256(data).hexdigest()


def test_s3store_reads_what_minio_wrote(s3_server: S3Server, s3_bucket: str,
                                        s3_store: S3Store) -> None:
    data = os.urandom(70_000)
    minio_client(s3_server).put_object(s3_bucket, "docs/ab/cd/0002", io.BytesIO(data), len(data))
    with s3_store.open("docs/ab/cd/0002") as blob:
        assert blob.read() == data
    # No sha256 metadata from minio: stat hashes the bytes instead.
    assert s3_store.stat("docs/ab/cd/0002").sha256 == hashlib.sha256(data).hexdigest()
    assert list(s3_store.list("docs/")) == ["docs/ab/cd/0002"]


def test_wrong_secret_is_a_clear_auth_error(s3_server: S3Server, s3_bucket: str) -> None:
    store = S3Store(s3_bucket, endpoint_url=s3_server.endpoint, region=s3_server.region,
                    access_key=s3_server.access_key, secret_key="not-the-secret")
    calls: list[Callable[[], object]] = [
        lambda: store.put("docs/x", io.BytesIO(b"x")),
        lambda: store.open("docs/x"),
        lambda: store.exists("docs/x"),  # a HEAD: only the status says 403
        lambda: store.stat("docs/x"),
        lambda: list(store.list("docs/")),
    ]
    for call in calls:
        with pytest.raises(StorageAuthError) as caught:
            call()
        message = str(caught.value)
        assert "credentials" in message and s3_server.endpoint in message
        assert "not-the-secret" not in message and "\n" not in message
        assert not caught.value.retryable


@pytest.mark.parametrize("mode", ["COMPLIANCE", "GOVERNANCE"])
@pytest.mark.parametrize("size", [10, 6 * MIB], ids=["single", "multipart"])
def test_object_lock_refuses_early_erase(s3_server: S3Server, s3_bucket: str, mode: Any,
                                         size: int) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    store = S3Store(s3_bucket, endpoint_url=s3_server.endpoint, region=s3_server.region,
                    access_key=s3_server.access_key, secret_key=s3_server.secret_key,
                    object_lock_days=1, object_lock_mode=mode, clock=lambda: now,
                    multipart_threshold=5 * MIB, part_size=5 * MIB)
    data = os.urandom(size)
    store.put("docs/ab/cd/locked", io.BytesIO(data))
    head = store.client.head_object(Bucket=s3_bucket, Key="docs/ab/cd/locked")
    assert head["ObjectLockMode"] == mode
    assert head["ObjectLockRetainUntilDate"] == now + timedelta(days=1)

    # The server itself refuses to delete the retained version...
    with pytest.raises(ClientError):
        store.client.delete_object(Bucket=s3_bucket, Key="docs/ab/cd/locked",
                                   VersionId=head["VersionId"])
    # ...and the store reports that as a storage error.
    with pytest.raises(BlobRetained) as caught:
        store.purge("docs/ab/cd/locked")
    assert isinstance(caught.value, StorageError)
    with store.open("docs/ab/cd/locked") as blob:
        assert blob.read() == data

    # delete() hides the blob behind a delete marker; the retained version stays.
    store.delete("docs/ab/cd/locked")
    assert not store.exists("docs/ab/cd/locked")
    versions = store.client.list_object_versions(Bucket=s3_bucket).get("Versions", [])
    assert [v["VersionId"] for v in versions] == [head["VersionId"]]


def test_purge_erases_every_version_when_not_retained(s3_bucket: str, s3_store: S3Store) -> None:
    for body in (b"one", b"two"):
        s3_store.put("docs/ab/cd/p", io.BytesIO(body))
    s3_store.put("docs/ab/cd/p2", io.BytesIO(b"neighbour"))
    s3_store.delete("docs/ab/cd/p")
    s3_store.purge("docs/ab/cd/p")
    listing = s3_store.client.list_object_versions(Bucket=s3_bucket)
    left = listing.get("Versions", []) + listing.get("DeleteMarkers", [])
    assert {v["Key"] for v in left} == {"docs/ab/cd/p2"}


def test_failed_part_upload_is_aborted(s3_bucket: str, s3_store: S3Store) -> None:
    def cut_the_network(params: dict[str, Any], **_: Any) -> None:
        if params["PartNumber"] == 2:
            raise EndpointConnectionError(endpoint_url="injected")

    s3_store.client.meta.events.register("provide-client-params.s3.UploadPart", cut_the_network)
    with pytest.raises(StorageUnavailable):
        s3_store.put("docs/ab/cd/big", io.BytesIO(os.urandom(11 * MIB)))
    assert s3_store.client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert not s3_store.exists("docs/ab/cd/big")


def test_unreachable_endpoint_is_unavailable_within_the_timeout() -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    store = S3Store("nobucket", endpoint_url=f"http://127.0.0.1:{closed}", access_key="a",
                    secret_key="b", connect_timeout=1, read_timeout=1, max_attempts=2)
    for call in (lambda: store.exists("docs/x"), lambda: store.put("docs/x", io.BytesIO(b"x"))):
        started = time.monotonic()
        with pytest.raises(StorageUnavailable) as caught:
            call()
        assert time.monotonic() - started < 10
        assert caught.value.retryable
