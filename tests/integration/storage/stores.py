"""How the storage tests build an S3Store: from its storage URL, as Postbox does."""
from __future__ import annotations

from storage import open_store
from storage.s3store import S3Store
from tests.fixtures.seaweed import S3Server

MIB = 1024 * 1024
# S3's minimum part size, so an 11 MiB blob takes three parts.
SMALL_PARTS = {"multipart_threshold": 5 * MIB, "part_size": 5 * MIB}


def make_s3_store(server: S3Server, bucket: str, **params: str | int) -> S3Store:
    """An S3Store for bucket from its storage URL and the AWS_* variables."""
    env = server.env(bucket, **{**SMALL_PARTS, **params})
    store = open_store(env.pop("POSTBOX_STORAGE_URL"), env)
    assert isinstance(store, S3Store)
    return store
