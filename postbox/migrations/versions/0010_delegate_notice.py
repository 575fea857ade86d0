"""Notice items for a delegate's open: the owner is told that someone they trusted opened post.

Revision ID: 0010
Revises: 0003
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "reason IN ('arrival', 'message', 'reminder')"
AFTER = "reason IN ('arrival', 'message', 'reminder', 'delegate_open')"


def _swap(condition: str) -> None:
    # SQLite cannot alter a CHECK: batch mode copies the table with the new constraint.
    with op.batch_alter_table("notice_items", recreate="auto") as batch:
        batch.drop_constraint("ck_notice_items_reason", type_="check")
        batch.create_check_constraint("ck_notice_items_reason", condition)


def upgrade() -> None:
    _swap(AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM notice_items WHERE reason = 'delegate_open'")
    _swap(BEFORE)
