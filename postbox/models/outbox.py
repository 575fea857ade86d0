"""The job queue: rows written in the same transaction as the change that needs the job.

Workers claim ``pending`` rows whose ``run_after`` has passed (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL) and hold a lease, so a crashed worker's job is picked up again.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from postbox.models.base import Base, check_in, created_column, defaulted, id_column

OUTBOX_STATUSES = ("pending", "done", "dead")


class Outbox(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_run_after", "status", "run_after"),
        # "this document's reminders" by key prefix: LIKE 'x%' on PostgreSQL (migration 0011)
        Index("ix_outbox_dedupe_key_pattern", "dedupe_key",
              postgresql_ops={"dedupe_key": "text_pattern_ops"}),
        check_in("status", OUTBOX_STATUSES),
    )

    id: Mapped[str] = id_column()
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)  # JSON
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = defaulted("pending", String(20))
    attempts: Mapped[int] = defaulted(0)
    run_after: Mapped[datetime] = created_column()
    leased_until: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()
    done_at: Mapped[datetime | None]
