"""Shapes of user-supplied values, checked at the service boundary (never assert)."""
from __future__ import annotations

import re
import unicodedata

from postbox.errors import InvalidInput

_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_CASE_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/#-]{0,127}")


def email(value: str) -> str:
    """A lower-cased address; CR/LF and anything else unusual is refused, never cleaned."""
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.fullmatch(value):
        raise InvalidInput("not a valid e-mail address")
    return value.lower()


def external_id(value: str) -> str:
    if not isinstance(value, str) or not _EXTERNAL_ID.fullmatch(value):
        raise InvalidInput("an external id is 1-128 characters: letters, digits and . _ : @ -")
    return value


def slug(value: str) -> str:
    if not isinstance(value, str) or not _SLUG.fullmatch(value):
        raise InvalidInput("a slug is 1-63 lowercase letters, digits and dashes")
    return value


def case_reference(value: str) -> str:
    if not isinstance(value, str) or not _CASE_REF.fullmatch(value):
        raise InvalidInput("a case reference is 1-128 characters: letters, digits and . _ : / # -")
    return value


def display_text(value: str, what: str, max_len: int) -> str:
    """Free text shown to people (subjects, names): no control or bidi-override characters."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text")
    value = unicodedata.normalize("NFC", value).strip()
    if not value or len(value) > max_len:
        raise InvalidInput(f"{what} must be 1-{max_len} characters")
    for ch in value:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Cs", "Co", "Cn"):
            raise InvalidInput(f"{what} contains control or invisible characters")
    return value


def filename(value: str) -> str:
    """A display file name: last path segment only, no traversal, no control characters."""
    if not isinstance(value, str):
        raise InvalidInput("file name must be text")
    base = value.replace("\\", "/").rsplit("/", 1)[-1]
    base = display_text(base, "file name", 200)
    if base in (".", "..") or base.startswith("."):
        raise InvalidInput("file name must not start with a dot")
    return base


EXTENSIONS = {"application/pdf": (".pdf",), "image/png": (".png",),
              "image/jpeg": (".jpg", ".jpeg")}


def shown_filename(name: str, content_type: str) -> str:
    """The name a document is shown and downloaded under: its extension always matches the
    type its content was accepted as (ASVS 5.2.2), so "invoice.exe" holding a PDF is handed
    over as "invoice.exe.pdf" and no program is chosen by a sender's misleading name."""
    allowed = EXTENSIONS.get(content_type)
    if not allowed or name.lower().endswith(allowed):
        return name
    return name + allowed[0]


def pin(value: str) -> str:
    """6-12 ASCII digits, not a repeat, a run or a short repeated pattern."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{6,12}", value):
        raise InvalidInput("a PIN is 6 to 12 digits (0-9)")
    digits = [int(c) for c in value]
    steps = {b - a for a, b in zip(digits, digits[1:])}
    if len(steps) == 1 and steps <= {-1, 0, 1}:
        raise InvalidInput("choose a PIN that is not a run or a repeat of one digit")
    for period in (2, 3):
        if len(value) % period == 0 and value == value[:period] * (len(value) // period):
            raise InvalidInput("choose a PIN that is not a short repeated pattern")
    return value
