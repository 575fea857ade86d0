"""Unit of work: one transaction per service call, committed only when the service says so.

Shaped like cosmicpython's ``SqlAlchemyUnitOfWork``::

    with uow:
        uow.session.add(thing)
        uow.commit()

Leaving the block without ``commit()`` (an exception, an early return) rolls everything back.
Services take an :class:`AbstractUnitOfWork`, so unit tests can hand them a fake.
"""
from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from postbox.errors import DatabaseFull, DatabaseProblem

SQLITE_FULL = 13
PG_DISK_FULL = "53100"


def _is_full(exc: DBAPIError) -> bool:
    orig = exc.orig
    return (getattr(orig, "sqlite_errorcode", None) == SQLITE_FULL
            or getattr(orig, "sqlstate", None) == PG_DISK_FULL)


def database_problem(exc: DBAPIError) -> DatabaseProblem:
    """A disk-full or unreachable database as a domain error; other errors stay as they are."""
    if _is_full(exc):
        return DatabaseFull("the database is full; nothing was changed")
    return DatabaseProblem("the database is unavailable; nothing was changed")


class AbstractUnitOfWork(Protocol):
    """What services need: a session inside ``with``, and explicit commit."""

    @property
    def session(self) -> Session: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class UnitOfWork:
    """A fresh session from ``session_factory`` for each ``with`` block; reusable, not nestable."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._session_factory = session_factory
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("UnitOfWork.session is only available inside `with uow:`")
        return self._session

    def __enter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("UnitOfWork is already in use; nested `with uow:` is not supported")
        self._session = self._session_factory()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self.session, None
        try:
            # After commit() there is nothing left to roll back; otherwise this discards it all.
            session.rollback()
        finally:
            session.close()
        if isinstance(exc, DBAPIError) and (isinstance(exc, OperationalError) or _is_full(exc)):
            raise database_problem(exc) from exc

    def commit(self) -> None:
        try:
            self.session.commit()
        except DBAPIError as exc:
            if isinstance(exc, OperationalError) or _is_full(exc):
                raise database_problem(exc) from exc
            raise

    def rollback(self) -> None:
        self.session.rollback()
