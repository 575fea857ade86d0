"""Stores for the storage tests: a FileStore in tmp_path and an S3Store on SeaweedFS."""
from __future__ import annotations

from pathlib import Path

import pytest

from storage import FileStore
from storage.s3store import S3Store
from tests.fixtures.seaweed import S3Server
from tests.integration.storage.stores import make_s3_store


@pytest.fixture
def file_store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "blobs")


@pytest.fixture
def s3_store(s3_server: S3Server, s3_bucket: str) -> S3Store:
    return make_s3_store(s3_server, s3_bucket)
