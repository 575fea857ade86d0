"""Batches of documents from one organisation, and their items.

A batch is atomic towards recipients: items are sealed and stored as they arrive but stay
invisible (document status ``accepted``) until the batch is closed; cancelling delivers nothing
that was not yet consigned. ``item_count`` is the per-batch counter that numbers items (``seq``)
and enforces the item limit without counting rows.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from postbox.models.base import (
    Base,
    check_in,
    created_column,
    defaulted,
    id_column,
    ref_column,
)

BATCH_STATES = ("open", "closed", "delivered", "cancelled")
ITEM_STATES = ("accepted", "consigned", "held", "unreachable", "rejected", "cancelled")


class Batch(Base):
    __tablename__ = "batches"
    __table_args__ = (
        UniqueConstraint("org_id", "idempotency_key"),
        Index("ix_batches_org_id_created_at", "org_id", "created_at"),
        check_in("state", BATCH_STATES),
    )

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = ref_column("organisations.id")
    reference: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = defaulted("open", String(20))
    # Recipients who were invited but never activated: deliver (they see it on activation)
    # or treat as unreachable (paper).
    deliver_to_invited: Mapped[bool] = defaulted(True)
    max_items: Mapped[int]
    item_count: Mapped[int] = defaulted(0)
    created_by: Mapped[str | None] = mapped_column(String(32))  # api token id, if any
    created_at: Mapped[datetime] = created_column()
    closed_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]


class BatchItem(Base):
    """One submitted document of a batch. Unreachable and rejected items have no document:
    the service keeps no plaintext, only a keyed fingerprint to check a later print request."""

    __tablename__ = "batch_items"
    __table_args__ = (
        UniqueConstraint("batch_id", "key"),
        UniqueConstraint("batch_id", "seq"),
        Index("ix_batch_items_batch_id_status", "batch_id", "status"),
        check_in("status", ITEM_STATES),
    )

    id: Mapped[str] = id_column()
    batch_id: Mapped[str] = ref_column("batches.id")
    seq: Mapped[int]
    key: Mapped[str] = mapped_column(String(200))
    client_ref: Mapped[str | None] = mapped_column(String(200))  # e.g. the manifest line
    external_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(300))
    document_id: Mapped[str | None] = ref_column("documents.id", unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64))
    # Salted plaintext commitment, needed for the ``consigned`` evidence written at close.
    commitment: Mapped[str | None] = mapped_column(String(64))
    # HMAC (server key) of an unreachable item's plaintext: a print request must match it.
    content_mac: Mapped[str | None] = mapped_column(String(64))
    plaintext_size: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()
