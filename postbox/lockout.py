"""Progressive lockout after failed logins, kept in the database so it holds across nodes.

After ``max_failures`` consecutive failures the account locks for 1 minute, then 2, 4, ...
up to a day. The same policy guards unknown identifiers (by a keyed hash of the identifier),
so a lock message reveals nothing about which accounts exist.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from postbox.errors import AccountLocked

MAX_LOCK = timedelta(days=1)


class Guarded(Protocol):
    failed_attempts: int
    locked_until: datetime | None


def ensure_unlocked(row: Guarded, now: datetime) -> None:
    if row.locked_until is not None and row.locked_until > now:
        raise AccountLocked(row.locked_until.strftime("%H:%M UTC"))


def register_failure(row: Guarded, now: datetime, max_failures: int) -> bool:
    """Count a failure; True when this failure locked the account."""
    row.failed_attempts = (row.failed_attempts or 0) + 1
    over = row.failed_attempts - max_failures
    if over < 0:
        return False
    row.locked_until = now + min(timedelta(minutes=2 ** min(over, 20)), MAX_LOCK)
    return True


def register_success(row: Guarded) -> None:
    row.failed_attempts = 0
    row.locked_until = None
