"""TOTP (RFC 6238) checks with single use and a bounded window.

Threat model: a phished or shoulder-surfed code must not be replayable, so a code is accepted
only for a time step later than the last accepted one. Only ASCII digits are accepted, so
look-alike digits from other scripts are refused rather than normalised.
"""
from __future__ import annotations

import hmac
import re

import pyotp

PERIOD = 30
DIGITS = 6
_CODE = re.compile(r"[0-9]{6}")


def new_totp_secret() -> str:
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, account: str, issuer: str = "Postbox") -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def code_at(secret: str, unix_time: float) -> str:
    return pyotp.TOTP(secret).at(int(unix_time))


def match_step(
    secret: str, code: str, *, now: float, last_step: int | None, window: int = 1
) -> int | None:
    """The time step ``code`` belongs to, within ±window of now and after ``last_step``; else None."""
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        return None
    current = int(now) // PERIOD
    totp = pyotp.TOTP(secret)
    found = None
    for step in range(current - window, current + window + 1):
        if hmac.compare_digest(totp.at(step * PERIOD), code):
            found = step
    if found is None or (last_step is not None and found <= last_step):
        return None
    return found
