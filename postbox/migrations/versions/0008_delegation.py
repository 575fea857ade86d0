"""Delegation (power of attorney): grants, delegate stanzas, delegate retrievals.

Revision ID: 0008
Revises: 0001
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = False) -> sa.Column[sa.DateTime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "delegation_grants",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.String(32), nullable=False),
        sa.Column("delegate_id", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=True),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("delegate_key_version", sa.Integer(), nullable=False),
        _time("created_at"),
        _time("expires_at"),
        _time("accepted_at", nullable=True),
        _time("ended_at", nullable=True),
        _time("rewrapped_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_delegation_grants"),
        sa.ForeignKeyConstraint(["owner_id"], ["recipients.id"],
                                name="fk_delegation_grants_owner_id_recipients"),
        sa.ForeignKeyConstraint(["delegate_id"], ["recipients.id"],
                                name="fk_delegation_grants_delegate_id_recipients"),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name="fk_delegation_grants_org_id_organisations"),
        sa.CheckConstraint("state IN ('pending', 'active', 'declined', 'revoked', 'expired')",
                           name="ck_delegation_grants_state"),
        sa.CheckConstraint("scope IN ('read', 'reply')", name="ck_delegation_grants_scope"),
    )
    op.create_index("ix_delegation_grants_owner_id_state", "delegation_grants",
                    ["owner_id", "state"])
    op.create_index("ix_delegation_grants_delegate_id_state", "delegation_grants",
                    ["delegate_id", "state"])
    op.create_table(
        "delegate_stanzas",
        sa.Column("grant_id", sa.String(32), nullable=False),
        sa.Column("document_id", sa.String(32), nullable=False),
        sa.Column("stanza", sa.LargeBinary(), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("grant_id", "document_id", name="pk_delegate_stanzas"),
        sa.ForeignKeyConstraint(["grant_id"], ["delegation_grants.id"],
                                name="fk_delegate_stanzas_grant_id_delegation_grants"),
    )
    op.create_table(
        "delegate_retrievals",
        sa.Column("evidence_id", sa.String(32), nullable=False),
        sa.Column("delegate_id", sa.String(32), nullable=False),
        sa.Column("grant_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("evidence_id", name="pk_delegate_retrievals"),
        sa.ForeignKeyConstraint(["delegate_id"], ["recipients.id"],
                                name="fk_delegate_retrievals_delegate_id_recipients"),
    )
    op.create_index("ix_delegate_retrievals_delegate_id", "delegate_retrievals", ["delegate_id"])


def downgrade() -> None:
    op.drop_table("delegate_retrievals")
    op.drop_table("delegate_stanzas")
    op.drop_index("ix_delegation_grants_delegate_id_state", "delegation_grants")
    op.drop_index("ix_delegation_grants_owner_id_state", "delegation_grants")
    op.drop_table("delegation_grants")
