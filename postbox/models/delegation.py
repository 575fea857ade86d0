"""Delegation (power of attorney): grants from an owner to a delegate, delegate stanzas, and
which ``retrieved`` evidence a delegate produced.

A grant covers all of the owner's documents or one organisation's (``org_id``), read-only or
read-and-reply, until ``expires_at``. It counts once accepted and stops at once when revoked
or expired. ``delegate_stanzas`` hold each document's data key wrapped for the grant's
delegate (crypto/delegate.py); they may be written while a delivery is still being stored, so
``document_id`` has no foreign key (a failed delivery leaves an inert row that opens nothing).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from postbox.models.base import Base, check_in, created_column, id_column, ref_column

GRANT_STATES = ("pending", "active", "declined", "revoked", "expired")
GRANT_SCOPES = ("read", "reply")


class DelegationGrant(Base):
    __tablename__ = "delegation_grants"
    __table_args__ = (
        check_in("state", GRANT_STATES),
        check_in("scope", GRANT_SCOPES),
        Index("ix_delegation_grants_owner_id_state", "owner_id", "state"),
        Index("ix_delegation_grants_delegate_id_state", "delegate_id", "state"),
    )

    id: Mapped[str] = id_column()
    owner_id: Mapped[str] = ref_column("recipients.id")
    delegate_id: Mapped[str] = ref_column("recipients.id")
    org_id: Mapped[str | None] = ref_column("organisations.id")  # NULL: every organisation
    scope: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(10))
    # The delegate key the stanzas are sealed to; a newer key needs a new grant.
    delegate_key_version: Mapped[int]
    created_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # Set when the owner's session finished wrapping the documents that existed at grant time.
    rewrapped_at: Mapped[datetime | None]


class DelegateStanza(Base):
    __tablename__ = "delegate_stanzas"

    grant_id: Mapped[str] = ref_column("delegation_grants.id", primary_key=True)
    document_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    stanza: Mapped[bytes]
    created_at: Mapped[datetime] = created_column()


class DelegateRetrieval(Base):
    """Which ``retrieved`` evidence a delegate produced (their key countersigned it)."""

    __tablename__ = "delegate_retrievals"

    evidence_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    delegate_id: Mapped[str] = ref_column("recipients.id", index=True)
    grant_id: Mapped[str] = mapped_column(String(32))
