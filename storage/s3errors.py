"""How botocore's errors become storage errors: one table, used by every S3Store call.

S3 reports most failures as an error code in the response; a HEAD has no body, so there
only the HTTP status tells (``404``, ``403``). Network failures arrive as exceptions.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    SSLError,
)

from storage.errors import (
    BlobNotFound,
    StorageAuthError,
    StorageError,
    StorageFull,
    StorageUnavailable,
)

NOT_FOUND = {"NoSuchKey", "NotFound", "404", "NoSuchVersion"}
AUTH = {"SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "403",
        "InvalidToken", "ExpiredToken", "TokenRefreshRequired", "AllAccessDisabled"}
BUSY = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout",
        "Throttling", "ThrottlingException", "503", "500"}
# MinIO answers 507 XMinioStorageFull when its disks are full; quotas vary by server.
FULL = {"XMinioStorageFull", "QuotaExceeded", "XMinioAdminBucketQuotaExceeded", "507"}


@contextmanager
def translate(key: str, *, bucket: str, where: str) -> Iterator[None]:
    """Re-raise botocore errors from the block as the matching ``StorageError``."""
    try:
        yield
    except ClientError as exc:
        raise from_client_error(exc, key, bucket=bucket, where=where) from exc
    except SSLError as exc:  # a certificate problem will not pass by retrying
        raise StorageError(f"TLS to S3 at {where} failed: {exc}") from exc
    except (ConnectionError, HTTPClientError, IncompleteReadError) as exc:
        raise StorageUnavailable(f"S3 at {where} is unreachable or timed out: {exc}") from exc
    except (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError) as exc:
        raise StorageAuthError(f"no usable S3 credentials for {where}: set "
                               "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") from exc
    except BotoCoreError as exc:
        raise StorageError(f"S3 client error at {where}: {exc}") from exc


def from_client_error(exc: ClientError, key: str, *, bucket: str, where: str) -> StorageError:
    """The storage error for one S3 error response."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in NOT_FOUND:
        return BlobNotFound(key)
    if code == "RequestTimeTooSkewed":
        return StorageError(f"this machine's clock differs too much from S3 at {where}")
    if code == "NoSuchBucket":
        return StorageError(f"bucket {bucket!r} does not exist at {where}")
    if code in FULL or status == 507:
        return StorageFull(f"S3 at {where} is out of space for bucket {bucket!r} ({code})")
    if code in AUTH or status in (401, 403):
        return StorageAuthError(
            f"S3 at {where} refused our credentials for bucket {bucket!r} ({code}): check "
            "the access key, the secret key and the key's permissions")
    if code in BUSY or status >= 500:
        return StorageUnavailable(f"S3 at {where} is busy or failing ({code or status})")
    return StorageError(f"S3 at {where} refused the request for {key!r}: {code} "
                        f"{error.get('Message', '')}".rstrip())
