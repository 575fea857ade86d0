"""The evidence log: state, tiles, checkpoints, witnesses, cosignatures; the sequencer's queue.

Revision ID: 0004
Revises: 0001
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMPTY_ROOT = hashlib.sha256(b"").digest()


def upgrade() -> None:
    op.create_table(
        "log_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_log_state"),
    )
    # The one state row: the empty tree. Literal SQL, so `alembic upgrade --sql` renders it too.
    if op.get_context().dialect.name == "postgresql":
        root, epoch = f"decode('{EMPTY_ROOT.hex()}', 'hex')", "'1970-01-01 00:00:00+00'"
    else:
        root, epoch = f"X'{EMPTY_ROOT.hex()}'", "'1970-01-01 00:00:00.000000'"
    op.execute(f"INSERT INTO log_state (id, size, root, updated_at) "
               f"VALUES (1, 0, {root}, {epoch})")
    op.create_table(
        "log_tiles",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_log_tiles"),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size", name="pk_log_checkpoints"),
    )
    op.create_table(
        "log_witnesses",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("verifier", sa.String(400), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_log_witnesses"),
        sa.UniqueConstraint("verifier", name="uq_log_witnesses_verifier"),
    )
    op.create_table(
        "log_cosignatures",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("witness_id", sa.String(32), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_log_cosignatures"),
        sa.ForeignKeyConstraint(["size"], ["log_checkpoints.size"],
                                name="fk_log_cosignatures_size_log_checkpoints"),
        sa.ForeignKeyConstraint(["witness_id"], ["log_witnesses.id"],
                                name="fk_log_cosignatures_witness_id_log_witnesses"),
        sa.UniqueConstraint("size", "witness_id", name="uq_log_cosignatures_size_witness_id"),
    )
    op.create_index("ix_log_cosignatures_size", "log_cosignatures", ["size"])
    unsequenced = sa.text("leaf_index IS NULL")
    op.create_index("ix_evidence_unsequenced", "evidence", ["created_at", "id"],
                    postgresql_where=unsequenced, sqlite_where=unsequenced)
    op.create_index("ix_evidence_created_at", "evidence", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_evidence_created_at", table_name="evidence")
    op.drop_index("ix_evidence_unsequenced", table_name="evidence")
    op.drop_index("ix_log_cosignatures_size", table_name="log_cosignatures")
    op.drop_table("log_cosignatures")
    op.drop_table("log_witnesses")
    op.drop_table("log_checkpoints")
    op.drop_table("log_tiles")
    op.drop_table("log_state")
