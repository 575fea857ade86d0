"""Declarative base shared by every table: ids, UTC times and constraint naming.

Ids are 32-char lowercase hex (uuid4) made in Python, so a service knows a row's id before
it flushes. Times are always aware UTC in Python whatever the database stores.
"""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    LargeBinary,
    MetaData,
    String,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

ID_LENGTH = 32

# Deterministic constraint names, so later migrations (and SQLite batch mode) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    """A fresh row id: 32 lowercase hex characters of a random UUID."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """Now, aware UTC: the default for ``created_at``; services pass their own clock's time."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes: timestamptz on PostgreSQL, naive UTC on SQLite.

    A naive datetime is refused on write (its zone is a guess); reads are always aware UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(DateTime(timezone=dialect.name == "postgresql"))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime needs a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime refused: pass an aware datetime (UTC)")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        date: Date(),
        bytes: LargeBinary(),
    }


def id_column(**kw: Any) -> Any:
    """The primary key every table but the natural-key ones uses."""
    return mapped_column(String(ID_LENGTH), primary_key=True, default=new_id, **kw)


def created_column() -> Any:
    return mapped_column(default=utcnow)


def ref_column(target: str, **kw: Any) -> Any:
    """A foreign key to another table's 32-hex id (``"table.id"``)."""
    return mapped_column(String(ID_LENGTH), ForeignKey(target), **kw)


def defaulted(value: bool | int | str, type_: TypeEngine[Any] | None = None) -> Any:
    """A constant default, set both in Python and in the schema (for raw SQL and Core inserts)."""
    server: Any
    if isinstance(value, bool):
        server = true() if value else false()
    elif isinstance(value, int):
        server = text(str(value))
    else:
        server = value
    return mapped_column(type_, default=value, server_default=server)


def check_in(column: str, values: tuple[str, ...]) -> CheckConstraint:
    """A CHECK that ``column`` holds one of ``values``; named after the column."""
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=column)
