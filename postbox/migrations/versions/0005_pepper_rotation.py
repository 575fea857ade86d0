"""Master-key rotation: each wrapped key records the pepper (master key) it was derived with.

Revision ID: 0005
Revises: 0001
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("wrapped_keys") as batch:
        batch.add_column(sa.Column("pepper_id", sa.String(16), nullable=True))
        batch.create_index("ix_wrapped_keys_pepper_id", ["pepper_id"])


def downgrade() -> None:
    with op.batch_alter_table("wrapped_keys") as batch:
        batch.drop_index("ix_wrapped_keys_pepper_id")
        batch.drop_column("pepper_id")
