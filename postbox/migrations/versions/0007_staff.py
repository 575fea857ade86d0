"""Staff console: invitations by one-time link code (stored hashed) and staff sessions.

Revision ID: 0007
Revises: 0001
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = False) -> sa.Column[sa.DateTime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "staff_invites",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("totp_pending_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("invited_by", sa.String(320), nullable=True),
        _time("created_at"),
        _time("expires_at"),
        _time("used_at", nullable=True),
        _time("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_staff_invites"),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name="fk_staff_invites_org_id_organisations"),
        sa.UniqueConstraint("code_hash", name="uq_staff_invites_code_hash"),
        sa.CheckConstraint("role IN ('admin', 'sender', 'compliance')",
                           name="ck_staff_invites_role"),
    )
    op.create_index("ix_staff_invites_org_id", "staff_invites", ["org_id"])
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("staff_id", sa.String(32), nullable=False),
        sa.Column("cookie_key", sa.LargeBinary(), nullable=False),
        sa.Column("totp_step", sa.BigInteger(), nullable=True),
        _time("created_at"),
        _time("last_seen_at"),
        _time("expires_at"),
        _time("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_staff_sessions"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"],
                                name="fk_staff_sessions_staff_id_staff_users"),
    )
    op.create_index("ix_staff_sessions_staff_id", "staff_sessions", ["staff_id"])


def downgrade() -> None:
    op.drop_table("staff_sessions")
    op.drop_table("staff_invites")
