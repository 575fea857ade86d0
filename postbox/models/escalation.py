"""Unread escalation: named policies, each document's progress through one, the print queue.

A policy is a JSON list of steps (``[{"day": 3, "kind": "reminder"}, ...]``); the rows here
only store what ``postbox.escalation`` validated. Each consigned document under a policy has
one ``DocumentEscalation`` row that says which step comes next, and at most one pending
outbox job (``escalation:<document>:<step>``) that runs it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from postbox.models.base import (
    Base,
    check_in,
    created_column,
    defaulted,
    id_column,
    ref_column,
)

ESCALATION_STATES = ("active", "read", "done", "gone")
PRINT_STATES = ("queued", "printed", "dismissed")


class EscalationPolicy(Base):
    """An organisation's named policy; the one named ``default`` applies to every arrival."""

    __tablename__ = "escalation_policies"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = ref_column("organisations.id")
    name: Mapped[str] = mapped_column(String(64))
    steps: Mapped[str] = mapped_column(Text)  # canonical JSON list of {"day", "kind"}
    updated_at: Mapped[datetime] = created_column()


class DocumentEscalation(Base):
    """Where one document stands in its policy (a copy of the steps: later edits of the
    organisation's policy do not change what an arrival was promised)."""

    __tablename__ = "document_escalations"
    __table_args__ = (check_in("state", ESCALATION_STATES),
                      Index("ix_document_escalations_org_id_state", "org_id", "state"))

    document_id: Mapped[str] = ref_column("documents.id", primary_key=True)
    org_id: Mapped[str] = ref_column("organisations.id")
    policy: Mapped[str] = mapped_column(String(64))  # the policy's name, or "document"
    steps: Mapped[str] = mapped_column(Text)
    next_step: Mapped[int] = defaulted(0)
    state: Mapped[str] = defaulted("active", String(20))
    # Day 0 of the policy: consignment, moved later by any time a step waited (a hold).
    base_at: Mapped[datetime]
    updated_at: Mapped[datetime] = created_column()


class PrintJob(Base):
    """A document the recipient left unread until a print step: the sender prints it from
    its own archive (the service holds no plaintext) and marks it printed."""

    __tablename__ = "print_queue"
    __table_args__ = (check_in("state", PRINT_STATES),
                      UniqueConstraint("document_id"),
                      Index("ix_print_queue_org_id_state", "org_id", "state"))

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = ref_column("organisations.id")
    document_id: Mapped[str] = ref_column("documents.id")
    recipient_id: Mapped[str] = ref_column("recipients.id")
    step_day: Mapped[int]
    reason: Mapped[str] = mapped_column(String(40))  # "unread", or "notice-failed"
    state: Mapped[str] = defaulted("queued", String(20))
    created_at: Mapped[datetime] = created_column()
    printed_at: Mapped[datetime | None]
    printed_by: Mapped[str | None] = mapped_column(String(200))
    # SHA-256 of the letter the sender put under the cover page (what went on paper).
    printed_sha256: Mapped[str | None] = mapped_column(String(64))
