"""Cases, delivered documents and the intent rows that keep blob storage free of orphans."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from postbox.models.base import Base, created_column, defaulted, id_column, ref_column, utcnow
from postbox.models.recipients import Recipient


class Case(Base):
    """A thread of documents from one org; a recipient's reply puts it on hold."""

    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("org_id", "reference"),)

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = ref_column("organisations.id")
    reference: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = defaulted("open", String(20))
    # When the case went ON HOLD (a reply or dispute); the holds queue is oldest first.
    hold_since: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Document(Base):
    """One sealed document for one recipient. Subject and file name live in ``sealed_meta``."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("org_id", "idempotency_key"),
        Index("ix_documents_recipient_id_created_at", "recipient_id", "created_at"),
    )

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = ref_column("organisations.id")
    recipient_id: Mapped[str] = ref_column("recipients.id")
    case_id: Mapped[str | None] = ref_column("cases.id", index=True)
    batch_id: Mapped[str | None] = mapped_column(String(32), index=True)  # FK once batches exist
    key_version: Mapped[int]
    blob_key: Mapped[str] = mapped_column(String(512), unique=True)
    sealed_key: Mapped[bytes]
    sealed_meta: Mapped[bytes]
    ciphertext_sha256: Mapped[str] = mapped_column(String(64))
    ciphertext_size: Mapped[int] = mapped_column(BigInteger)
    plaintext_size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))
    automated: Mapped[bool] = defaulted(False)
    due_date: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # SHA-256 of the request that used the idempotency key: a replay with other content is refused.
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_column()
    consigned_at: Mapped[datetime | None]
    first_read_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    # record_hash of the newest evidence about this document: the next record's ``prev``.
    evidence_head: Mapped[str | None] = mapped_column(String(64))
    # A correction: the document that replaces this one, or when the sender withdrew it. The
    # recipient keeps seeing both, with a banner; nothing disappears silently.
    superseded_by: Mapped[str | None] = mapped_column(String(32))
    retracted_at: Mapped[datetime | None]

    recipient: Mapped[Recipient] = relationship()
    case: Mapped[Case | None] = relationship()


class PendingBlob(Base):
    """Intent to write a blob, committed before the write, deleted with the document's commit.

    A reaper removes blobs whose intent is older than a grace period and that no document
    references: a crash between blob write and DB commit then leaves no orphan for long.
    """

    __tablename__ = "pending_blobs"

    blob_key: Mapped[str] = mapped_column(String(512), primary_key=True)
    created_at: Mapped[datetime] = created_column()
