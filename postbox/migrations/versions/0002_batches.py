"""Batches and batch items (sender API, issue 5).

``documents.batch_id`` stays without a foreign key for now: adding one means rebuilding the
documents table on SQLite, which is better done once the parallel branches are merged.

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("state", sa.String(20), server_default="open", nullable=False),
        sa.Column("deliver_to_invited", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("max_items", sa.Integer(), nullable=False),
        sa.Column("item_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=True),
        _time("created_at"),
        _time("closed_at", nullable=True),
        _time("delivered_at", nullable=True),
        _time("cancelled_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_batches"),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name="fk_batches_org_id_organisations"),
        sa.UniqueConstraint("org_id", "idempotency_key", name="uq_batches_org_id_idempotency_key"),
        sa.CheckConstraint("state IN ('open', 'closed', 'delivered', 'cancelled')",
                           name="ck_batches_state"),
    )
    op.create_index("ix_batches_org_id_created_at", "batches", ["org_id", "created_at"])
    op.create_table(
        "batch_items",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("client_ref", sa.String(200), nullable=True),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(300), nullable=True),
        sa.Column("document_id", sa.String(32), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("commitment", sa.String(64), nullable=True),
        sa.Column("content_mac", sa.String(64), nullable=True),
        sa.Column("plaintext_size", sa.BigInteger(), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_batch_items"),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"],
                                name="fk_batch_items_batch_id_batches"),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"],
                                name="fk_batch_items_document_id_documents"),
        sa.UniqueConstraint("batch_id", "key", name="uq_batch_items_batch_id_key"),
        sa.UniqueConstraint("batch_id", "seq", name="uq_batch_items_batch_id_seq"),
        sa.UniqueConstraint("document_id", name="uq_batch_items_document_id"),
        sa.CheckConstraint(
            "status IN ('accepted', 'consigned', 'held', 'unreachable', 'rejected', 'cancelled')",
            name="ck_batch_items_status"),
    )
    op.create_index("ix_batch_items_batch_id_status", "batch_items", ["batch_id", "status"])


def downgrade() -> None:
    op.drop_table("batch_items")
    op.drop_table("batches")
