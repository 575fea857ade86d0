"""Notices, reminders and webhooks: coalescing state, notice items, reminder policies, endpoints.

Revision ID: 0003
Revises: 0001
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
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
        "notice_state",
        _ref("recipient_id"),
        _time("last_sent_at", nullable=True),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("bounced_email", sa.String(320), nullable=True),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("recipient_id", name="pk_notice_state"),
        _fk("notice_state", "recipient_id", "recipients"),
    )
    op.create_table(
        "notice_items",
        sa.Column("id", sa.String(32), nullable=False),
        _ref("recipient_id"),
        _ref("document_id"),
        _ref("org_id"),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), server_default="waiting", nullable=False),
        sa.Column("job_id", sa.String(32), nullable=True),
        _time("created_at"),
        _time("done_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notice_items"),
        _fk("notice_items", "recipient_id", "recipients"),
        _fk("notice_items", "document_id", "documents"),
        _fk("notice_items", "org_id", "organisations"),
        sa.CheckConstraint("reason IN ('arrival', 'message', 'reminder')",
                           name="ck_notice_items_reason"),
        sa.CheckConstraint("state IN ('waiting', 'sent', 'failed', 'cancelled')",
                           name="ck_notice_items_state"),
    )
    op.create_index("ix_notice_items_recipient_id_state", "notice_items",
                    ["recipient_id", "state"])
    op.create_index("ix_notice_items_document_id", "notice_items", ["document_id"])
    op.create_index("ix_notice_items_job_id", "notice_items", ["job_id"])
    op.create_table(
        "reminder_policies",
        _ref("org_id"),
        sa.Column("after_days", sa.String(100), nullable=False),
        sa.Column("before_due_days", sa.String(100), nullable=False),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("org_id", name="pk_reminder_policies"),
        _fk("reminder_policies", "org_id", "organisations"),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(32), nullable=False),
        _ref("org_id"),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("events", sa.String(200), nullable=False),
        sa.Column("description", sa.String(200), nullable=True),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("failure_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _time("failing_since", nullable=True),
        _time("last_success_at", nullable=True),
        _time("disabled_at", nullable=True),
        sa.Column("disabled_reason", sa.String(200), nullable=True),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_endpoints"),
        _fk("webhook_endpoints", "org_id", "organisations"),
    )
    op.create_index("ix_webhook_endpoints_org_id", "webhook_endpoints", ["org_id"])


def downgrade() -> None:
    op.drop_table("webhook_endpoints")
    op.drop_table("reminder_policies")
    op.drop_table("notice_items")
    op.drop_table("notice_state")
