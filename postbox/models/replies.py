"""Replies from recipients to organisations: sealed to the organisation's own key."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from postbox.models.base import Base, check_in, created_column, id_column, ref_column

REPLY_KINDS = ("reply", "dispute")


class Reply(Base):
    """One reply or dispute; only ciphertext here, openable only with the org's private key."""

    __tablename__ = "replies"
    __table_args__ = (check_in("kind", REPLY_KINDS),)

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = ref_column("organisations.id", index=True)
    recipient_id: Mapped[str] = ref_column("recipients.id")
    document_id: Mapped[str] = ref_column("documents.id")
    case_id: Mapped[str | None] = ref_column("cases.id", index=True)
    kind: Mapped[str] = mapped_column(String(20))
    blob_key: Mapped[str] = mapped_column(String(512), unique=True)
    sealed_key: Mapped[bytes]
    ciphertext_sha256: Mapped[str] = mapped_column(String(64))
    ciphertext_size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_column()
    acknowledged_at: Mapped[datetime | None]
