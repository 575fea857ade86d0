"""Write transactions that read first: safe and fast on both databases.

PostgreSQL: a plain unit of work (row locks, ``FOR UPDATE``, do the job).

SQLite allows one writer at a time. A transaction that reads and then writes must take the
write lock at ``BEGIN IMMEDIATE``, or it can lose the race halfway and fail. And when several
threads want the lock at once, SQLite's busy handler makes the losers sleep and poll in growing
steps (1, 2, 5, 10 ... 100 ms), which under a few concurrent uploads costs more than the writes
themselves. So within a process, writers of this kind first queue on a lock of ours (one per
engine). Across processes SQLite's busy handler still arbitrates (a kernel file lock shared by
processes was tried and measured no better here).
"""
from __future__ import annotations

import threading
import weakref

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from postbox.bootstrap import Postbox
from postbox.db import is_postgres
from postbox.uow import UnitOfWork


class _QueuedUnitOfWork(UnitOfWork):
    def __init__(self, factory: sessionmaker[Session], lock: threading.Lock) -> None:
        super().__init__(factory)
        self._lock = lock

    def __enter__(self) -> _QueuedUnitOfWork:  # noqa: PYI034
        self._lock.acquire()
        try:
            return super().__enter__()
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            super().__exit__(*exc)  # type: ignore[arg-type]
        finally:
            self._lock.release()


_WRITERS: weakref.WeakKeyDictionary[Engine, tuple[sessionmaker[Session], threading.Lock]] = \
    weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def write_uow(pb: Postbox) -> UnitOfWork:
    """A unit of work for a transaction that reads, then writes (see the module docstring)."""
    if is_postgres(pb.engine):
        return pb.uow()
    with _GUARD:
        if pb.engine not in _WRITERS:
            immediate = pb.engine.execution_options(sqlite_begin="IMMEDIATE")
            _WRITERS[pb.engine] = (sessionmaker(bind=immediate, expire_on_commit=False),
                                   threading.Lock())
        factory, lock = _WRITERS[pb.engine]
    return _QueuedUnitOfWork(factory, lock)
