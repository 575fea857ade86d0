"""Model helpers: ids, the UTC time type and e-mail normalisation."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from postbox.models import Base, Recipient, StaffUser, UTCDateTime, new_id

PG, SQLITE = postgresql.dialect(), sqlite.dialect()  # type: ignore[no-untyped-call]


def test_new_id_is_32_lowercase_hex_and_random() -> None:
    ids = {new_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_utc_datetime_binds_aware_utc_on_postgres() -> None:
    value = datetime(2030, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5)))
    bound = UTCDateTime().process_bind_param(value, PG)
    assert bound == value and bound is not None and bound.tzinfo == UTC


def test_utc_datetime_binds_naive_utc_on_sqlite() -> None:
    value = datetime(2030, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5)))
    assert UTCDateTime().process_bind_param(value, SQLITE) == datetime(2030, 1, 1, 17)


@pytest.mark.parametrize("dialect", [PG, SQLITE], ids=["postgres", "sqlite"])
def test_utc_datetime_refuses_naive(dialect: object) -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2030, 1, 1), dialect)  # type: ignore[arg-type]


def test_utc_datetime_refuses_non_datetimes() -> None:
    with pytest.raises(TypeError):
        UTCDateTime().process_bind_param("2030-01-01", SQLITE)  # type: ignore[arg-type]


def test_utc_datetime_reads_aware_utc() -> None:
    naive = datetime(2030, 1, 1, 12)
    shifted = datetime(2030, 1, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    for raw, dialect in ((naive, SQLITE), (shifted, PG)):
        read = UTCDateTime().process_result_value(raw, dialect)
        assert read == datetime(2030, 1, 1, 12, tzinfo=UTC)
        assert read is not None and read.tzinfo == UTC
    assert UTCDateTime().process_result_value(None, PG) is None


def test_emails_are_stored_lower_case() -> None:
    assert Recipient(email=" Ann@Example.ORG").email == "ann@example.org"
    assert StaffUser(email="Bob@Example.org").email == "bob@example.org"


def test_every_time_column_is_utc_datetime() -> None:
    from sqlalchemy import DateTime

    plain = [
        f"{t.name}.{c.name}"
        for t in Base.metadata.tables.values()
        for c in t.columns
        if isinstance(c.type, DateTime)  # UTCDateTime is a TypeDecorator, not a DateTime
    ]
    assert plain == []
