"""Signed evidence records (leaves of the Merkle log) and the service's signing keys.

Evidence is append-only and outlives what it mentions, so it has no foreign keys.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from postbox.models.base import Base, created_column, id_column


class Evidence(Base):
    __tablename__ = "evidence"

    id: Mapped[str] = id_column()
    # Position in the Merkle log, assigned by the sequencer after commit; NULL until then.
    leaf_index: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    document_id: Mapped[str | None] = mapped_column(String(32), index=True)
    recipient_id: Mapped[str | None] = mapped_column(String(32), index=True)
    org_id: Mapped[str | None] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = created_column()
    body: Mapped[bytes]  # canonical JSON (RFC 8785), exactly the bytes that were signed
    signature: Mapped[bytes | None]
    key_id: Mapped[str | None] = mapped_column(String(64))
    countersignature: Mapped[bytes | None]
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    record_hash: Mapped[str] = mapped_column(String(64))


class SigningKey(Base):
    """A public key the service signed with, kept with its validity period for verifiers."""

    __tablename__ = "signing_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(20))
    public_key: Mapped[bytes]
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_column()
