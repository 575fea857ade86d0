"""The database, not only the services, enforces uniqueness, references and allowed values."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from postbox.models import Document, Organisation, Recipient, StaffUser, new_id
from tests.integration.db import rows


def _org_and_recipient(session: Session) -> tuple[Organisation, Recipient]:
    organisation, person = rows.org(), rows.recipient()
    session.add_all([organisation, person])
    session.flush()
    return organisation, person


def test_org_slug_is_unique(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        session.add(rows.org(slug="acme"))
        session.commit()
        session.add(rows.org(slug="acme"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_external_id_is_unique_per_org(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        acme, person = _org_and_recipient(session)
        other, someone = _org_and_recipient(session)
        session.add_all([rows.link(acme, person, "c-1"), rows.link(other, person, "c-1")])
        session.commit()  # the same external id in another org is fine
        session.add(rows.link(acme, someone, "c-1"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_idempotency_key_is_unique_per_org(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        acme, person = _org_and_recipient(session)
        session.add_all([
            rows.document(acme, person, idempotency_key="k1"),
            rows.document(acme, person),  # no key: any number may exist
            rows.document(acme, person),
        ])
        session.commit()
        session.add(rows.document(acme, person, idempotency_key="k1"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_savepoint_lets_a_duplicate_insert_fail_alone(
    session_factory: sessionmaker[Session],
) -> None:
    # The idempotent-delivery pattern: try the insert in a savepoint, fall back to the
    # existing row. Needs real SAVEPOINTs, which pysqlite's default mode breaks.
    with session_factory() as session:
        acme, person = _org_and_recipient(session)
        session.add(rows.document(acme, person, idempotency_key="k1"))
        session.commit()
        session.add(rows.org(slug="kept"))
        with pytest.raises(IntegrityError), session.begin_nested():
            session.add(rows.document(acme, person, idempotency_key="k1"))
        session.commit()
        assert session.scalar(select(func.count()).select_from(Document)) == 1
        assert session.scalars(select(Recipient)).one().id == person.id


def test_foreign_keys_are_enforced(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        acme, _ = _org_and_recipient(session)
        session.add(rows.link(acme, rows.recipient(id=new_id()), "c-1"))  # recipient not added
        with pytest.raises(IntegrityError):
            session.flush()


def test_role_must_be_known(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        acme, _ = _org_and_recipient(session)
        session.add(StaffUser(org_id=acme.id, email="a@example.org", role="root"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_staff_email_is_stored_lower_case_and_unique_per_org(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        acme, _ = _org_and_recipient(session)
        session.add(StaffUser(org_id=acme.id, email="Ann@Example.org", role="admin"))
        session.commit()
        assert session.scalars(select(StaffUser.email)).one() == "ann@example.org"
        session.add(StaffUser(org_id=acme.id, email="ANN@example.org ", role="sender"))
        with pytest.raises(IntegrityError):
            session.commit()
