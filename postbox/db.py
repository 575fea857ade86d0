"""Database engines, sessions and schema migrations for SQLite and PostgreSQL.

SQLite (the embedded default) runs in WAL mode with foreign keys enforced and real
transactions (``BEGIN`` is sent explicitly, so SAVEPOINTs and consistent reads work). A write
transaction that first reads can still lose the race for SQLite's single write lock; pass the
execution option ``sqlite_begin="IMMEDIATE"`` (for example a session factory bound to
``engine.execution_options(sqlite_begin="IMMEDIATE")``) to take the lock at ``BEGIN`` instead.

The schema is created only by Alembic migrations (:func:`migrate`); nothing here connects at
import time.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000
_SQLITE_BEGIN_MODES = ("DEFERRED", "IMMEDIATE", "EXCLUSIVE")


def normalise_url(url: str | URL) -> URL:
    """Parse ``url``; any PostgreSQL spelling (``postgres://``, ``postgresql://``) uses psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, **engine_kw: Any) -> Engine:
    """An engine for ``url``, set up for our use of SQLite or PostgreSQL. Connects lazily."""
    parsed = normalise_url(url)
    engine = create_engine(parsed, pool_pre_ping=True, **engine_kw)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level: pysqlite's own implicit BEGIN breaks SAVEPOINTs and
        # would run these PRAGMAs inside a transaction, where some are silently ignored.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = str(conn.get_execution_options().get("sqlite_begin", "DEFERRED")).upper()
        if mode not in _SQLITE_BEGIN_MODES:
            raise ValueError(f"sqlite_begin must be one of {_SQLITE_BEGIN_MODES}, got {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (services return them to the edge)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def is_postgres(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "postgresql"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configured in code (no alembic.ini); ``connection`` is the one to migrate."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def migrate(url_or_engine: str | URL | Engine, revision: str = "heads") -> None:
    """Upgrade the schema to ``revision`` (default: every head). Safe to run repeatedly.

    Features may add migrations on parallel branches from a common base; "heads" applies all.

    Runs in one transaction on both databases; concurrent callers are serialised.
    """
    owned = not isinstance(url_or_engine, Engine)
    engine = make_engine(url_or_engine) if not isinstance(url_or_engine, Engine) else url_or_engine
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(sqlite_begin="IMMEDIATE")
            command.upgrade(alembic_config(connection), revision)
    finally:
        if owned:
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The revision(s) the database is at, sorted and comma-joined; None if never migrated."""
    with engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(sorted(heads)) or None


def head_revision() -> str | None:
    """The newest revision(s) this code ships, in the form of :func:`current_revision`."""
    return ",".join(sorted(ScriptDirectory.from_config(alembic_config()).get_heads())) or None
