"""An index for "jobs of this document" lookups by dedupe-key prefix (reminders, escalation).

PostgreSQL answers ``LIKE 'prefix%'`` from a btree only with ``text_pattern_ops`` (or the C
collation); SQLite's query uses a range on the unique index instead, so there this index is a
plain duplicate, kept for one schema on both databases.

Revision ID: 0011
Revises: 0001
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_dedupe_key_pattern", "outbox", ["dedupe_key"],
                    postgresql_ops={"dedupe_key": "text_pattern_ops"})


def downgrade() -> None:
    op.drop_index("ix_outbox_dedupe_key_pattern", table_name="outbox")
