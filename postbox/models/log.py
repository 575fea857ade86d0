"""The evidence log's tables: its state, its tiles, signed checkpoints, witnesses, cosignatures.

The leaves are the ``evidence`` rows themselves (``Evidence.leaf_index``); here live only what
the tree adds. Stored hashes are kept as tlog-tiles (256 hashes per tile, one row each, a
partial tile grows in place), so a proof for any tree size reads a handful of rows and a log of
10^7 leaves needs about 40,000 of them.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from postbox.models.base import Base, created_column, id_column
from postbox.models.evidence import Evidence

# The sequencer's queue: evidence not yet in the tree, oldest first (a partial index, so it
# stays as small as the backlog however large the log grows).
UNSEQUENCED_INDEX = Index(
    "ix_evidence_unsequenced", Evidence.created_at, Evidence.id,
    postgresql_where=Evidence.leaf_index.is_(None),
    sqlite_where=Evidence.leaf_index.is_(None),
)
# Proof bundles for a period select evidence by time.
CREATED_INDEX = Index("ix_evidence_created_at", Evidence.created_at)


class LogState(Base):
    """One row (id 1): the size and root of the tree the sequencer has built so far."""

    __tablename__ = "log_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes]
    updated_at: Mapped[datetime] = created_column()


class LogTile(Base):
    """256 consecutive stored hashes of tree level ``8 * level`` (fewer while partial)."""

    __tablename__ = "log_tiles"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    data: Mapped[bytes]


class LogCheckpoint(Base):
    """A checkpoint the log signed (C2SP signed note, log signature only)."""

    __tablename__ = "log_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes]
    note: Mapped[bytes]
    created_at: Mapped[datetime] = created_column()


class LogWitness(Base):
    """A witness whose cosignatures the log accepts and lists in its trust file."""

    __tablename__ = "log_witnesses"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    verifier: Mapped[str] = mapped_column(String(400), unique=True)
    added_at: Mapped[datetime] = created_column()
    removed_at: Mapped[datetime | None]


class LogCosignature(Base):
    """One witness's cosignature/v1 line on one checkpoint."""

    __tablename__ = "log_cosignatures"
    __table_args__ = (UniqueConstraint("size", "witness_id"),)

    id: Mapped[str] = id_column()
    size: Mapped[int] = mapped_column(BigInteger, ForeignKey("log_checkpoints.size"), index=True)
    witness_id: Mapped[str] = mapped_column(String(32), ForeignKey("log_witnesses.id"))
    line: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[datetime]
    created_at: Mapped[datetime] = created_column()
