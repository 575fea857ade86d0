"""Alembic environment: runs migrations on the connection ``postbox.db.migrate`` hands over.

All migrations run in one transaction, also on SQLite (our engine sends real BEGINs, so its
DDL is transactional). SQLite foreign keys are switched off for the run, as SQLite's own
procedure for table rebuilds (batch mode) demands, and checked before commit.
PostgreSQL callers are serialised by an advisory lock, so several nodes may migrate at start.
"""
from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, text

from postbox.models import Base

# Any fixed 64-bit number; it names the lock "postbox migrations" for pg_advisory_xact_lock.
PG_MIGRATION_LOCK = 0x706F7374626F78


def run_migrations_offline() -> None:
    """Print the SQL (``alembic upgrade --sql``) for a DBA instead of running it."""
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    # Only outside a transaction does this take effect, so at the driver level, before
    # Alembic begins one (our engine leaves the sqlite3 driver in autocommit).
    driver: Any = connection.connection.driver_connection
    driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def run_migrations(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _sqlite_foreign_keys(connection, on=False)
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            transactional_ddl=True,
            compare_type=True,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(text(f"SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})"))
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left foreign key violations: {broken[:5]}")
    finally:
        if sqlite:
            _sqlite_foreign_keys(connection, on=True)


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    from postbox.db import make_engine  # only when run by hand with a URL

    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as connection:
            run_migrations(connection.execution_options(sqlite_begin="IMMEDIATE"))
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
