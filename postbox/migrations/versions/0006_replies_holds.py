"""Replies sealed to the organisation's key, when a case went on hold, and each document's
newest evidence (so appending to its chain needs no search).

Revision ID: 0006
Revises: 0001
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "replies",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("recipient_id", sa.String(32), nullable=False),
        sa.Column("document_id", sa.String(32), nullable=False),
        sa.Column("case_id", sa.String(32), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("blob_key", sa.String(512), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext_sha256", sa.String(64), nullable=False),
        sa.Column("ciphertext_size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_replies"),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name="fk_replies_org_id_organisations"),
        sa.ForeignKeyConstraint(["recipient_id"], ["recipients.id"],
                                name="fk_replies_recipient_id_recipients"),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"],
                                name="fk_replies_document_id_documents"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_replies_case_id_cases"),
        sa.UniqueConstraint("blob_key", name="uq_replies_blob_key"),
        sa.CheckConstraint("kind IN ('reply', 'dispute')", name="ck_replies_kind"),
    )
    op.create_index("ix_replies_org_id", "replies", ["org_id"])
    op.create_index("ix_replies_case_id", "replies", ["case_id"])
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("hold_since", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("evidence_head", sa.String(64), nullable=True))
        batch.add_column(sa.Column("superseded_by", sa.String(32), nullable=True))
        batch.add_column(sa.Column("retracted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("retracted_at")
        batch.drop_column("superseded_by")
        batch.drop_column("evidence_head")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("hold_since")
    op.drop_table("replies")
