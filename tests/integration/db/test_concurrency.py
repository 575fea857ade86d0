"""Concurrent workers: SKIP LOCKED claims on PostgreSQL, the write lock on SQLite."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from postbox.models import Outbox
from tests.integration.db import rows


def _driver(conn: Connection) -> Any:
    return conn.connection.driver_connection


def _claim(session: Session) -> Outbox | None:
    query = (
        select(Outbox)
        .where(Outbox.status == "pending")
        .order_by(Outbox.run_after)
        .with_for_update(skip_locked=True)
        .limit(1)
    )
    return session.scalars(query).first()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_workers_claim_different_outbox_rows(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        session.add_all([rows.job(), rows.job(), rows.job(status="done")])
        session.commit()
    with session_factory() as first, session_factory() as second:
        a, b = _claim(first), _claim(second)
        assert a is not None and b is not None
        assert a.id != b.id
        with session_factory() as third:
            assert _claim(third) is None  # both pending rows are held
        first.rollback()
        second.rollback()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_immediate_begin_takes_the_write_lock_up_front(engine: Engine) -> None:
    with engine.connect() as holder, engine.connect() as other:
        holder.execution_options(sqlite_begin="IMMEDIATE").begin()
        _driver(other).execute("PRAGMA busy_timeout=50")
        try:
            with pytest.raises(OperationalError, match="locked"):
                other.execution_options(sqlite_begin="IMMEDIATE").begin()
            other.rollback()
            # Readers are not blocked by the held write lock (WAL).
            assert other.exec_driver_sql("SELECT count(*) FROM outbox").scalar() == 0
        finally:
            _driver(other).execute("PRAGMA busy_timeout=5000")
            holder.rollback()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_unknown_sqlite_begin_mode_is_refused(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(ValueError, match="sqlite_begin"):
        conn.execution_options(sqlite_begin="NOW; DROP TABLE outbox").begin()
