"""botocore errors become storage errors by one table; no server needed."""
from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
    SSLError,
)

from storage.errors import (
    BlobNotFound,
    StorageAuthError,
    StorageError,
    StorageFull,
    StorageUnavailable,
)
from storage.s3errors import translate
from storage.s3store import S3Store


def client_error(code: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": "m"},
                     "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "GetObject")


def raised(exc: Exception) -> StorageError:
    with pytest.raises(StorageError) as caught, translate("docs/k", bucket="b",
                                                          where="http://s3.test"):
        raise exc
    assert caught.value.__cause__ is exc
    return caught.value


@pytest.mark.parametrize(("code", "status", "expected"), [
    ("NoSuchKey", 404, BlobNotFound),
    ("404", 404, BlobNotFound),            # a HEAD has no body: only the status
    ("SignatureDoesNotMatch", 403, StorageAuthError),
    ("InvalidAccessKeyId", 403, StorageAuthError),
    ("AccessDenied", 403, StorageAuthError),
    ("403", 403, StorageAuthError),
    ("ExpiredToken", 400, StorageAuthError),
    ("SlowDown", 503, StorageUnavailable),
    ("InternalError", 500, StorageUnavailable),
    ("502", 502, StorageUnavailable),
    ("XMinioStorageFull", 507, StorageFull),
    ("NoSuchBucket", 404, StorageError),
    ("InvalidArgument", 400, StorageError),
    ("RequestTimeTooSkewed", 403, StorageError),
])
def test_client_errors(code: str, status: int, expected: type[StorageError]) -> None:
    error = raised(client_error(code, status))
    assert type(error) is expected
    assert "\n" not in str(error)


def test_not_found_names_the_key() -> None:
    error = raised(client_error("NoSuchKey", 404))
    assert isinstance(error, BlobNotFound) and error.key == "docs/k"


def test_auth_error_says_what_to_check() -> None:
    message = str(raised(client_error("SignatureDoesNotMatch", 403)))
    assert "http://s3.test" in message and "credentials" in message and "secret key" in message


@pytest.mark.parametrize("exc", [
    EndpointConnectionError(endpoint_url="http://s3.test"),
    ConnectTimeoutError(endpoint_url="http://s3.test"),
    ReadTimeoutError(endpoint_url="http://s3.test"),
    ResponseStreamingError(error="connection reset"),
])
def test_network_failures_are_retryable(exc: Exception) -> None:
    error = raised(exc)
    assert type(error) is StorageUnavailable and error.retryable


def test_tls_failure_is_not_retryable() -> None:
    error = raised(SSLError(endpoint_url="https://s3.test", error="bad cert"))
    assert type(error) is StorageError and not error.retryable


def test_missing_credentials() -> None:
    assert type(raised(NoCredentialsError())) is StorageAuthError


@pytest.mark.parametrize("kwargs", [
    {"access_key": "only-id"},
    {"object_lock_days": 0},
    {"object_lock_mode": "compliance"},
    {"part_size": 4 * 2**20},
    {"multipart_threshold": 0},
])
def test_s3store_refuses_bad_settings(kwargs: Any) -> None:
    with pytest.raises(StorageError):
        S3Store("bucket", endpoint_url="http://127.0.0.1:1", **kwargs)
