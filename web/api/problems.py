"""RFC 9457 problem details: the one table from error kinds to HTTP status and ``type`` URI.

Every error under /api/ is ``application/problem+json`` with a stable ``type``
(``urn:postbox:problem:<kind>``: opaque, the same on every deployment, so clients can match on
it) and a ``title`` that never changes for a kind; ``detail`` says what was wrong this time.
Domain errors map by their ``kind`` (a subclass without a row falls back to its parent's);
werkzeug's HTTP errors map by status. Client faults are 4xx; only our own faults are 5xx, and
those carry a reference that is also in the log, never a traceback.
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from postbox.errors import PostboxError

log = logging.getLogger("postbox.api")
TYPE_PREFIX = "urn:postbox:problem:"
MEDIA_TYPE = "application/problem+json"

# kind -> (status, title). The titles are part of the contract: change them never.
KINDS: dict[str, tuple[int, str]] = {
    "invalid-input": (400, "The request has an invalid field"),
    "malformed-request": (400, "The request could not be parsed"),
    "idempotency-key-required": (400, "This request needs an Idempotency-Key header"),
    "unauthorized": (401, "A valid bearer token is required"),
    "authentication-failed": (401, "A valid bearer token is required"),
    "forbidden": (403, "This token's role may not do that"),
    "not-found": (404, "Not found"),
    "unknown-recipient": (404, "The organisation has no such recipient"),
    "method-not-allowed": (405, "Method not allowed on this resource"),
    "not-acceptable": (406, "No acceptable representation"),
    "conflict": (409, "The request conflicts with the current state"),
    "batch-not-open": (409, "The batch takes no more items"),
    "batch-full": (409, "The batch holds its maximum number of items"),
    "too-large": (413, "The document is too large"),
    "request-too-large": (413, "The request body is too large"),
    "unsupported-type": (415, "The document type is not accepted"),
    "unsupported-media-type": (415, "The request body has an unsupported media type"),
    "rate-limited": (429, "Too many requests"),
    "document-unreadable": (502, "A stored document failed its integrity check"),
    "storage-unavailable": (503, "The document store is unavailable; retry later"),
    "database-unavailable": (503, "The database is unavailable; retry later"),
    "storage-full": (507, "The document store has no space left"),
    "database-full": (507, "The database has no space left"),
    "config": (500, "The service is misconfigured"),
    "error": (500, "Internal error"),
}
RETRYABLE = ("storage-unavailable", "database-unavailable")
BY_STATUS = {400: "malformed-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
             405: "method-not-allowed", 406: "not-acceptable", 409: "conflict",
             413: "request-too-large", 415: "unsupported-media-type", 429: "rate-limited"}


class ApiProblem(Exception):
    """Raised by the API's own edge checks (auth, parsing, limits) to answer a problem."""

    def __init__(self, kind: str, detail: str, headers: dict[str, str] | None = None,
                 **extensions: Any) -> None:
        super().__init__(detail)
        self.kind, self.detail = kind, detail
        self.headers = headers or {}
        self.extensions = extensions


def kind_of(exc: PostboxError) -> str:
    for cls in type(exc).__mro__:
        kind = getattr(cls, "kind", None)
        if kind in KINDS:
            return str(kind)
    return "error"


def body(kind: str, detail: str, **extensions: Any) -> dict[str, Any]:
    """The problem object (also used for per-item errors inside a 200 answer)."""
    status, title = KINDS.get(kind, (500, KINDS["error"][1]))
    return {"type": TYPE_PREFIX + kind, "title": title, "status": status, "detail": detail,
            **extensions}


def problem(kind: str, detail: str, headers: dict[str, str] | None = None,
            **extensions: Any) -> Response:
    data = body(kind, detail, **extensions)
    response = jsonify(data)
    response.status_code = data["status"]
    response.mimetype = MEDIA_TYPE
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _reference() -> str:
    raw = secrets.token_hex(4).upper()
    return f"{raw[:4]}-{raw[4:]}"


def from_exception(exc: BaseException) -> Response:
    """Any exception as a problem response; unexpected ones are logged with a reference."""
    if isinstance(exc, ApiProblem):
        return problem(exc.kind, exc.detail, exc.headers, **exc.extensions)
    if isinstance(exc, PostboxError):
        kind = kind_of(exc)
        if KINDS[kind][0] >= 500:
            return _server_fault(kind, exc)
        return problem(kind, str(exc))
    if isinstance(exc, HTTPException) and exc.code is not None and exc.code < 500:
        kind = BY_STATUS.get(exc.code, "malformed-request")
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        response = problem(kind, exc.description or KINDS[kind][1], headers)
        response.status_code = exc.code
        return response
    return _server_fault("error", exc)


def _server_fault(kind: str, exc: BaseException) -> Response:
    reference = _reference()
    log.error("ref=%s %s %s -> %s", reference, request.method, request.path, kind,
              exc_info=exc if kind == "error" else None)
    detail = str(exc) if isinstance(exc, PostboxError) else "Something went wrong on our side."
    headers = {"Retry-After": "30"} if kind in RETRYABLE else None
    return problem(kind, f"{detail} (reference {reference})", headers,
                   instance=f"urn:postbox:incident:{reference}")


def is_api_request() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def install(app: Flask) -> None:
    """Answer problems for every path under /api/, whichever blueprint (or none) matched.

    The portal's app-wide handlers render HTML; ours wrap them and hand every other path
    back to them. Call after the portal's handlers are registered."""
    handlers = app.error_handler_spec.setdefault(None, {}).setdefault(None, {})
    for cls in (ApiProblem, HTTPException, PostboxError, Exception):
        previous: Callable[[Any], Any] | None = handlers.get(cls)
        app.register_error_handler(cls, _wrap(previous))


def _wrap(previous: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    def handle(exc: Exception) -> Any:
        if is_api_request():
            return from_exception(exc)
        if previous is not None:
            return previous(exc)
        if isinstance(exc, HTTPException):
            return exc
        raise exc

    return handle
