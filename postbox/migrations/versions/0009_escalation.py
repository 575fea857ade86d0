"""Unread escalation: named policies, per-document progress and the print queue.

Revision ID: 0009
Revises: 0001
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _ref(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.String(32), nullable=nullable)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"],
                                   name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "escalation_policies",
        sa.Column("id", sa.String(32), nullable=False),
        _ref("org_id"),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_escalation_policies"),
        _fk("escalation_policies", "org_id", "organisations"),
        sa.UniqueConstraint("org_id", "name", name="uq_escalation_policies_org_id_name"),
    )
    op.create_table(
        "document_escalations",
        _ref("document_id"),
        _ref("org_id"),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("next_step", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("state", sa.String(20), server_default="active", nullable=False),
        _time("base_at"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("document_id", name="pk_document_escalations"),
        _fk("document_escalations", "document_id", "documents"),
        _fk("document_escalations", "org_id", "organisations"),
        sa.CheckConstraint("state IN ('active', 'read', 'done', 'gone')",
                           name="ck_document_escalations_state"),
    )
    op.create_index("ix_document_escalations_org_id_state", "document_escalations",
                    ["org_id", "state"])
    op.create_table(
        "print_queue",
        sa.Column("id", sa.String(32), nullable=False),
        _ref("org_id"),
        _ref("document_id"),
        _ref("recipient_id"),
        sa.Column("step_day", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("state", sa.String(20), server_default="queued", nullable=False),
        _time("created_at"),
        _time("printed_at", nullable=True),
        sa.Column("printed_by", sa.String(200), nullable=True),
        sa.Column("printed_sha256", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_print_queue"),
        _fk("print_queue", "org_id", "organisations"),
        _fk("print_queue", "document_id", "documents"),
        _fk("print_queue", "recipient_id", "recipients"),
        sa.UniqueConstraint("document_id", name="uq_print_queue_document_id"),
        sa.CheckConstraint("state IN ('queued', 'printed', 'dismissed')",
                           name="ck_print_queue_state"),
    )
    op.create_index("ix_print_queue_org_id_state", "print_queue", ["org_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_print_queue_org_id_state", table_name="print_queue")
    op.drop_table("print_queue")
    op.drop_index("ix_document_escalations_org_id_state", table_name="document_escalations")
    op.drop_table("document_escalations")
    op.drop_table("escalation_policies")
