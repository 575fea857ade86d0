"""Domain errors: one base class; the web and CLI edges map each kind to a status or exit code.

Every message is safe to show to the caller: no key material, no plaintext, and no hint of
which login factor was wrong.
"""
from __future__ import annotations


class PostboxError(Exception):
    """Base of every error the services raise on purpose. Its message is safe to show."""

    kind = "error"


class ConfigError(PostboxError):
    """A setting is malformed or a required key file is missing."""

    kind = "config"


class InvalidInput(PostboxError):
    """The caller sent something malformed (bad field, bad name, bad PIN shape)."""

    kind = "invalid-input"


class NotFound(PostboxError):
    """No such thing, or not yours: both look the same, so ids cannot be probed."""

    kind = "not-found"


class Conflict(PostboxError):
    """The request clashes with what exists (duplicate slug, reused idempotency key)."""

    kind = "conflict"


class UnknownRecipient(NotFound):
    """The organisation has no recipient with that external id."""

    kind = "unknown-recipient"


class DocumentTooLarge(PostboxError):
    """The document exceeds the configured size limit."""

    kind = "too-large"


class UnsupportedDocumentType(PostboxError):
    """The content is not of an allowed type (sniffed from the bytes, not the name)."""

    kind = "unsupported-type"


class AuthenticationFailed(PostboxError):
    """Login or unlock failed. Deliberately says nothing about which factor was wrong."""

    kind = "authentication-failed"

    def __init__(self, message: str = "The details you entered do not match.") -> None:
        super().__init__(message)


class AccountLocked(AuthenticationFailed):
    """Too many failed attempts; try again after ``until``."""

    kind = "account-locked"

    def __init__(self, until_iso: str) -> None:
        super().__init__(f"Too many failed attempts. Try again after {until_iso}.")
        self.until_iso = until_iso


class SessionExpired(AuthenticationFailed):
    """The vault session is unknown, revoked or past its idle or absolute timeout."""

    kind = "session-expired"

    def __init__(self) -> None:
        super().__init__("Your session has ended. Please log in again.")


class StorageProblem(PostboxError):
    """The blob store failed. ``retryable`` says whether trying again later may help."""

    kind = "storage-unavailable"
    retryable = True


class StorageFullProblem(StorageProblem):
    """The blob store has no space left (HTTP 507)."""

    kind = "storage-full"
    retryable = False


class StorageMisconfigured(StorageProblem):
    """The blob store refused our credentials or request: an operator must fix the setup."""

    kind = "storage-misconfigured"
    retryable = False


class DatabaseProblem(PostboxError):
    """The metadata database is unreachable or failed; nothing was changed."""

    kind = "database-unavailable"
    retryable = True


class DatabaseFull(DatabaseProblem):
    """The database has no space left; nothing was changed (HTTP 507)."""

    kind = "database-full"
    retryable = False


def storage_problem(exc: Exception) -> StorageProblem:
    """The domain error for a storage failure, keeping what kind of failure it was."""
    from storage.errors import StorageAuthError, StorageFull

    if isinstance(exc, StorageFull):
        return StorageFullProblem("the document store has no space left")
    if isinstance(exc, StorageAuthError):
        return StorageMisconfigured("the document store refused the service's credentials")
    problem = StorageProblem(f"the document store is unavailable: {exc}")
    problem.retryable = bool(getattr(exc, "retryable", True))
    return problem
