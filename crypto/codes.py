"""Human-typed codes: activation codes (letters) and recovery codes.

Crockford-style base32 without look-alikes, grouped in fours; normalisation accepts lower case,
spaces and dashes so a code read off paper is forgiving to type but not to guess.
"""
from __future__ import annotations

import re
import secrets

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
_ALLOWED = re.compile(r"[A-Z2-9]+")


def _code(groups: int) -> str:
    chars = "".join(secrets.choice(ALPHABET) for _ in range(groups * 4))
    return "-".join(chars[i : i + 4] for i in range(0, len(chars), 4))


def new_activation_code() -> str:
    """16 characters, 80 bits: printed on the invitation letter."""
    return _code(4)


def new_recovery_code() -> str:
    """24 characters, 120 bits: shown once at activation."""
    return _code(6)


def normalise_code(raw: str) -> str | None:
    """Canonical form ``XXXX-XXXX-...`` or None when it cannot be a code."""
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    compact = re.sub(r"[\s-]", "", raw).upper()
    if not compact or len(compact) % 4 or not _ALLOWED.fullmatch(compact):
        return None
    if any(c not in ALPHABET for c in compact):
        return None
    return "-".join(compact[i : i + 4] for i in range(0, len(compact), 4))
