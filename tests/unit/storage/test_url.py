"""Storage URLs: each form builds the right store; malformed ones fail with a clear message."""
from __future__ import annotations

from pathlib import Path

import pytest

from storage import FileStore, StorageError, open_store
from storage.s3store import S3Store

CREDS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value"}


def test_file_url(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/blobs", {})
    assert isinstance(store, FileStore)
    assert store.root == (tmp_path / "blobs").resolve()


def test_file_url_with_localhost_and_escapes(tmp_path: Path) -> None:
    store = open_store(f"file://localhost{tmp_path}/my%20blobs", {})
    assert isinstance(store, FileStore)
    assert store.root.name == "my blobs"


def test_s3_url_with_every_parameter() -> None:
    store = open_store(
        "s3://postbox-docs?endpoint=http://127.0.0.1:9000&region=eu-north-1"
        "&object_lock_days=3650&object_lock_mode=GOVERNANCE&connect_timeout=2"
        "&read_timeout=7.5&max_attempts=3&multipart_threshold=16777216&part_size=6291456",
        CREDS,
    )
    assert isinstance(store, S3Store)
    assert store.bucket == "postbox-docs"
    assert store.client.meta.endpoint_url == "http://127.0.0.1:9000"
    assert store.client.meta.region_name == "eu-north-1"
    assert (store.object_lock_days, store.object_lock_mode) == (3650, "GOVERNANCE")
    assert (store.multipart_threshold, store.part_size) == (16 * 2**20, 6 * 2**20)
    config = store.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (2.0, 7.5)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert config.s3 == {"addressing_style": "path"}
    assert config.signature_version == "s3v4"
    credentials = store.client._request_signer._credentials
    assert (credentials.access_key, credentials.secret_key) == ("AKIDEXAMPLE", "s3cr3t-value")


def test_s3_url_defaults() -> None:
    store = open_store("s3://postbox-docs", {**CREDS, "AWS_REGION": "eu-west-3"})
    assert isinstance(store, S3Store)
    assert store.client.meta.region_name == "eu-west-3"
    assert store.object_lock_days is None
    assert store.client.meta.config.retries["total_max_attempts"] == 5
    assert (store.client.meta.config.connect_timeout,
            store.client.meta.config.read_timeout) == (5, 30)


def test_s3_url_without_credentials_uses_the_default_chain() -> None:
    store = open_store("s3://postbox-docs?endpoint=http://127.0.0.1:9000", {})
    assert isinstance(store, S3Store)
    assert store.client.meta.region_name == "us-east-1"


@pytest.mark.parametrize(("url", "env", "says"), [
    ("ftp://host/x", {}, "unsupported storage URL scheme 'ftp'"),
    ("/var/blobs", {}, "unsupported storage URL scheme ''"),
    ("file://relative/path", {}, "no host"),
    ("file:relative", {}, "absolute path"),
    ("file:///x?mode=1", {}, "no parameters"),
    ("file:///x#frag", {}, "fragment"),
    ("s3://", CREDS, "invalid S3 bucket name"),
    ("s3://ab", CREDS, "invalid S3 bucket name"),
    ("s3://Bucket", CREDS, "invalid S3 bucket name"),
    ("s3://bucket:9000", CREDS, "invalid S3 bucket name"),
    ("s3://bucket/prefix", CREDS, "prefix path is not supported"),
    ("s3://bucket?endpoint=localhost:9000", CREDS, "http:// or https://"),
    ("s3://bucket?endpont=http://x", CREDS, "unknown S3 storage URL parameter 'endpont'"),
    ("s3://bucket?region=a&region=b", CREDS, "exactly one value"),
    ("s3://bucket?region=", CREDS, "exactly one value"),
    ("s3://bucket?object_lock_days=ten", CREDS, "positive number"),
    ("s3://bucket?object_lock_days=0", CREDS, "positive number"),
    ("s3://bucket?object_lock_mode=compliance", CREDS, "COMPLIANCE or GOVERNANCE"),
    ("s3://bucket?part_size=1024", CREDS, "part_size must be at least"),
    ("s3://bucket?connect_timeout=-1", CREDS, "positive number"),
    ("s3://bucket?junk", CREDS, "malformed query"),
    ("s3://bucket", {"AWS_ACCESS_KEY_ID": "only-the-id"}, "or neither"),
    ("s3://bucket", {"AWS_SECRET_ACCESS_KEY": "only-the-secret"}, "or neither"),
])
def test_malformed_urls(url: str, env: dict[str, str], says: str) -> None:
    with pytest.raises(StorageError) as caught:
        open_store(url, env)
    assert says in str(caught.value)


def test_credentials_in_the_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(StorageError) as caught:
        open_store("s3://AKID:hunter2@bucket?endpoint=http://127.0.0.1:9000", {})
    assert "must not contain credentials" in str(caught.value)
    assert "hunter2" not in str(caught.value)
