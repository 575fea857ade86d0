"""Reading form fields, and the domain errors a person can correct by filling a form again."""
from __future__ import annotations

from flask import request

from postbox.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    PostboxError,
    SessionExpired,
)

# Errors that re-show the form with a message; everything else goes to the error pages.
CORRECTABLE = (AuthenticationFailed, InvalidInput, Conflict)
MAX_FIELD = 500


def field(name: str) -> str:
    """A submitted text field, or "" when absent; over-long values are cut, not trusted."""
    value = request.form.get(name, "")
    return value[:MAX_FIELD] if isinstance(value, str) else ""


def correctable(exc: PostboxError) -> bool:
    return isinstance(exc, CORRECTABLE) and not isinstance(exc, SessionExpired)
