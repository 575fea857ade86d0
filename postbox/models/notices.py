"""Notice coalescing state, what each notice covers, reminder policies and webhook endpoints.

The jobs themselves are ``outbox`` rows; these tables hold what the jobs decide on.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from postbox.models.base import Base, check_in, created_column, defaulted, id_column, ref_column

NOTICE_REASONS = ("arrival", "message", "reminder", "delegate_open")
NOTICE_ITEM_STATES = ("waiting", "sent", "failed", "cancelled")


class NoticeState(Base):
    """Per recipient: when the last notice went out and the one notice job now pending.

    At most one notice job per recipient exists at a time (``job_id``); arrivals while it is
    pending wait for it or for the one scheduled after it, which is how notices coalesce.
    """

    __tablename__ = "notice_state"

    recipient_id: Mapped[str] = ref_column("recipients.id", primary_key=True)
    last_sent_at: Mapped[datetime | None]
    job_id: Mapped[str | None] = mapped_column(String(32))
    # The address that bounced: a recipient who changes their address is tried again.
    bounced_email: Mapped[str | None] = mapped_column(String(320))
    updated_at: Mapped[datetime] = created_column()


class NoticeItem(Base):
    """One reason to tell a recipient (a document arrived, a message, a reminder, a delegate
    opened one of their documents).

    ``id`` is the id of the outbox job that caused it, so a replayed job adds nothing.
    ``job_id`` names the notice e-mail job that covers it, fixed once that job starts.
    """

    __tablename__ = "notice_items"
    __table_args__ = (
        Index("ix_notice_items_recipient_id_state", "recipient_id", "state"),
        check_in("reason", NOTICE_REASONS),
        check_in("state", NOTICE_ITEM_STATES),
    )

    id: Mapped[str] = id_column()
    recipient_id: Mapped[str] = ref_column("recipients.id")
    document_id: Mapped[str] = ref_column("documents.id", index=True)
    org_id: Mapped[str] = ref_column("organisations.id")
    reason: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = defaulted("waiting", String(20))
    job_id: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = created_column()
    done_at: Mapped[datetime | None]


class ReminderPolicy(Base):
    """An organisation's default reminders: days after arrival, days before the due date."""

    __tablename__ = "reminder_policies"

    org_id: Mapped[str] = ref_column("organisations.id", primary_key=True)
    after_days: Mapped[str] = mapped_column(String(100), default="")  # e.g. "3,7"
    before_due_days: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[datetime] = created_column()


class WebhookEndpoint(Base):
    """A sender's receiver URL, the events it wants, and its signing secret (sealed)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = ref_column("organisations.id", index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[str] = mapped_column(String(200))  # comma-separated event types
    description: Mapped[str | None] = mapped_column(String(200))
    secret_sealed: Mapped[bytes]
    enabled: Mapped[bool] = defaulted(True)
    failure_count: Mapped[int] = defaulted(0)  # consecutive failed attempts
    failing_since: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_column()
