"""Readiness: is each dependency reachable right now? Degraded states are named, not hidden.

Every probe has a short explicit timeout so a blackholed dependency cannot hang the check.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import func, select, text

from postbox.bootstrap import Postbox
from postbox.models import Document, Outbox
from storage.errors import StorageError

PROBE_KEY = "health/probe"
TIMEOUT_S = 2.0


@dataclass
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)  # component -> "ok" or what is wrong

    @property
    def ready(self) -> bool:
        return all(v == "ok" for v in self.checks.values())


def _database(pb: Postbox) -> str:
    try:
        with pb.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:  # noqa: BLE001 - any failure is "degraded", named by its type
        return f"unreachable ({type(exc).__name__})"


def _store(pb: Postbox) -> str:
    try:
        pb.store.exists(PROBE_KEY)
        return "ok"
    except StorageError as exc:
        return f"unreachable ({type(exc).__name__})"


def _smtp(pb: Postbox) -> str:
    url = pb.settings.smtp_url
    if not url:
        return "ok"  # the embedded default writes .eml files
    parts = urlsplit(url)
    port = parts.port or (465 if parts.scheme == "smtps" else 25)
    try:
        with socket.create_connection((parts.hostname or "localhost", port), timeout=TIMEOUT_S):
            return "ok"
    except OSError as exc:
        return f"unreachable ({type(exc).__name__})"


def readiness(pb: Postbox) -> Readiness:
    return Readiness({"database": _database(pb), "storage": _store(pb), "smtp": _smtp(pb)})


@dataclass(frozen=True)
class QueueStats:
    pending: int
    dead: int
    oldest_age_s: float


def queue_stats(pb: Postbox) -> QueueStats:
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        pending = s.scalar(select(func.count()).select_from(Outbox)
                           .where(Outbox.status == "pending")) or 0
        dead = s.scalar(select(func.count()).select_from(Outbox)
                        .where(Outbox.status == "dead")) or 0
        oldest = s.scalar(select(func.min(Outbox.created_at)).where(Outbox.status == "pending"))
    return QueueStats(pending, dead, (now - oldest).total_seconds() if oldest else 0.0)


def document_counts(pb: Postbox) -> dict[str, int]:
    with pb.uow() as uow:
        rows = uow.session.execute(select(Document.status, func.count())
                                   .group_by(Document.status))
        return {status: n for status, n in rows}
