"""UnitOfWork commits only when asked and rolls back otherwise, on both databases."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from postbox.models import Organisation
from postbox.uow import UnitOfWork
from tests.integration.db import rows


def _count(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(Organisation)) or 0


def test_commit_persists_and_objects_stay_readable(
    session_factory: sessionmaker[Session],
) -> None:
    uow = UnitOfWork(session_factory)
    with uow:
        organisation = rows.org(slug="acme")
        uow.session.add(organisation)
        uow.commit()
    assert organisation.slug == "acme"  # expire_on_commit=False: no reload after close
    assert _count(session_factory) == 1


def test_leaving_without_commit_rolls_back(session_factory: sessionmaker[Session]) -> None:
    uow = UnitOfWork(session_factory)
    with uow:
        uow.session.add(rows.org())
        uow.session.flush()  # reached the database, yet must vanish
    assert _count(session_factory) == 0


def test_exception_rolls_back_and_propagates(session_factory: sessionmaker[Session]) -> None:
    uow = UnitOfWork(session_factory)
    with pytest.raises(LookupError), uow:
        uow.session.add(rows.org())
        uow.session.flush()
        raise LookupError("boom")
    assert _count(session_factory) == 0


def test_work_after_commit_is_rolled_back(session_factory: sessionmaker[Session]) -> None:
    uow = UnitOfWork(session_factory)
    with uow:
        uow.session.add(rows.org(slug="kept"))
        uow.commit()
        uow.session.add(rows.org(slug="dropped"))
        uow.session.flush()
    with session_factory() as session:
        assert session.scalars(select(Organisation.slug)).all() == ["kept"]


def test_uow_is_reusable_for_a_new_transaction(session_factory: sessionmaker[Session]) -> None:
    uow = UnitOfWork(session_factory)
    with uow:
        uow.session.add(rows.org())
    with uow:
        uow.session.add(rows.org())
        uow.commit()
    assert _count(session_factory) == 1
