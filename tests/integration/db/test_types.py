"""Times go in aware and come out aware UTC on both databases; naive times are refused."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from postbox.models import Outbox
from tests.integration.db import rows

CEST = timezone(timedelta(hours=2))


def test_aware_time_round_trips_as_utc(session_factory: sessionmaker[Session]) -> None:
    local = datetime(2030, 6, 1, 14, 30, 15, 123456, tzinfo=CEST)
    with session_factory() as session:
        job = rows.job(run_after=local)
        session.add(job)
        session.commit()
    with session_factory() as session:
        loaded = session.get_one(Outbox, job.id)
        assert loaded.run_after == local
        assert loaded.run_after.tzinfo == UTC
        assert loaded.run_after.hour == 12
        assert loaded.created_at.tzinfo == UTC
        assert loaded.leased_until is None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_stores_naive_utc(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        session.add(rows.job(run_after=datetime(2030, 6, 1, 14, 0, tzinfo=CEST)))
        session.commit()
        raw = session.execute(text("SELECT run_after FROM outbox")).scalar_one()
    assert raw.startswith("2030-06-01 12:00:00")


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_postgres_stores_timestamptz(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        session.add(rows.job(run_after=datetime(2030, 6, 1, 14, 0, tzinfo=CEST)))
        session.commit()
        kind = session.execute(text("SELECT pg_typeof(run_after)::text FROM outbox")).scalar()
    assert kind == "timestamp with time zone"


def test_naive_time_is_refused(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        session.add(rows.job(run_after=datetime(2030, 6, 1, 12, 0)))
        with pytest.raises(StatementError, match="naive datetime refused"):
            session.flush()


def test_naive_time_is_refused_in_queries(session_factory: sessionmaker[Session]) -> None:
    query = select(Outbox).where(Outbox.run_after <= datetime(2030, 1, 1))
    with session_factory() as session, pytest.raises(StatementError, match="naive"):
        session.scalars(query)


def test_comparisons_use_utc(session_factory: sessionmaker[Session]) -> None:
    at = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    with session_factory() as session:
        session.add(rows.job(run_after=at))
        session.commit()
        due = select(Outbox.id).where(Outbox.run_after <= at.astimezone(CEST))
        later = select(Outbox.id).where(Outbox.run_after > (at - timedelta(seconds=1)))
        assert len(session.scalars(due).all()) == 1
        assert len(session.scalars(later).all()) == 1
