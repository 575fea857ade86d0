"""The outbox: jobs written with their cause, claimed under a lease, retried, or dead-lettered.

A job is claimed by setting ``lease_owner``/``leased_until`` and counting the attempt, in one
short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers never wait for each
other; ``BEGIN IMMEDIATE`` on SQLite). A worker that dies holding a lease loses the job to the
next claim once ``leased_until`` has passed: a job runs at least once, and more than once only
when a lease ran out. Handlers keep that harmless: an e-mail carries a Message-ID derived from
the job id, a webhook a ``webhook-id`` derived from its event.

Finishing takes the job's row lock and applies the handler's database effects in the same
transaction, only while the job is still pending: if two runs overlap, the first to finish
records the outcome and the second changes nothing.

Failures retry with exponential backoff and full jitter (``uniform(0, min(cap, base * 2^n))``,
randomness injected) until ``outbox_max_attempts``; then the job is ``dead``, visible to
``postbox worker --dead`` and put back by ``--requeue``.
"""
from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from postbox.bootstrap import Postbox
from postbox.db import is_postgres
from postbox.errors import NotFound
from postbox.models import Outbox, new_id

if TYPE_CHECKING:
    import httpx

    from postbox.mail import Mailer

Effects = Callable[[Session], None]
MAX_ERROR = 2000


class Retry(Exception):
    """A handler's temporary failure: try again after a backoff."""


class Fail(Exception):
    """A handler's permanent failure: no retry; the job goes dead with this reason."""


@dataclass(frozen=True)
class Job:
    """A claimed job as its handler sees it (a snapshot; the row may move on)."""

    id: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    owner: str
    leased_until: datetime
    created_at: datetime


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter; ``rng`` is injected so tests can pin it."""

    base_s: float
    cap_s: float
    rng: random.Random

    def delay(self, attempts: int) -> timedelta:
        ceiling = min(self.cap_s, self.base_s * 2 ** max(0, attempts - 1))
        return timedelta(seconds=self.rng.uniform(0, ceiling))


@dataclass(frozen=True)
class Context:
    """What job handlers get: the service, the mailer, an HTTP client and the backoff."""

    pb: Postbox
    mailer: Mailer
    http: httpx.Client
    backoff: Backoff


def enqueue(session: Session, kind: str, payload: dict[str, Any], *, at: datetime,
            run_after: datetime | None = None, dedupe_key: str | None = None) -> str | None:
    """Add a job to the caller's transaction; None if ``dedupe_key`` already names a job."""
    if dedupe_key is not None and session.scalar(
            select(Outbox.id).where(Outbox.dedupe_key == dedupe_key)) is not None:
        return None
    job_id = new_id()
    session.add(Outbox(id=job_id, kind=kind, payload=json.dumps(payload, sort_keys=True),
                       dedupe_key=dedupe_key, created_at=at, run_after=run_after or at))
    return job_id


def keyed(session: Session, prefix: str) -> Any:
    """Jobs whose dedupe key starts with ``prefix``, in a form each database can answer from
    an index: SQLite compares bytes, so a range on the unique index; PostgreSQL's LIKE uses
    the ``text_pattern_ops`` index (a range would be wrong under a locale's collation)."""
    if session.get_bind().dialect.name == "postgresql":
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return Outbox.dedupe_key.like(escaped + "%", escape="\\")
    return (Outbox.dedupe_key >= prefix) & (Outbox.dedupe_key < prefix + "\uffff")


def writer(pb: Postbox) -> sessionmaker[Session]:
    """Sessions that take SQLite's write lock at BEGIN, so read-then-write cannot deadlock."""
    if is_postgres(pb.engine):
        return pb.session_factory
    return sessionmaker(bind=pb.engine.execution_options(sqlite_begin="IMMEDIATE"),
                        expire_on_commit=False)


def _job(row: Outbox) -> Job:
    assert row.leased_until is not None and row.lease_owner is not None  # set by the claim
    return Job(row.id, row.kind, json.loads(row.payload), row.attempts, row.lease_owner,
               row.leased_until, row.created_at)


def claim(pb: Postbox, owner: str, *, limit: int = 10, lease_s: int | None = None,
          kinds: tuple[str, ...] | None = None) -> list[Job]:
    """Lease up to ``limit`` due jobs for ``owner``; jobs another worker holds are skipped."""
    now = pb.clock.now()
    until = now + timedelta(seconds=lease_s or pb.settings.outbox_lease_s)
    query = (select(Outbox)
             .where(Outbox.status == "pending", Outbox.run_after <= now,
                    (Outbox.leased_until.is_(None)) | (Outbox.leased_until <= now))
             .order_by(Outbox.run_after, Outbox.created_at, Outbox.id).limit(limit)
             .with_for_update(skip_locked=True))
    if kinds is not None:
        query = query.where(Outbox.kind.in_(kinds))
    with writer(pb)() as session:
        rows = list(session.scalars(query))
        for row in rows:
            row.lease_owner, row.leased_until = owner, until
            row.attempts += 1
        session.commit()
        return [_job(row) for row in rows]


def _locked(session: Session, job: Job, *, owned: bool) -> Outbox | None:
    """The job's row, locked, if it is still pending (and, if ``owned``, still ours)."""
    row = session.scalar(select(Outbox).where(Outbox.id == job.id).with_for_update())
    if row is None or row.status != "pending":
        return None
    if owned and row.lease_owner != job.owner:
        return None
    return row


def finish_row(row: Outbox, now: datetime, note: str | None = None) -> None:
    """Mark a locked row done (see :func:`locked`)."""
    row.status, row.done_at = "done", now
    row.leased_until, row.last_error = None, note[:MAX_ERROR] if note else None


def defer_row(row: Outbox, until: datetime, note: str | None = None) -> None:
    """Put a locked row back until ``until``; this run does not count as an attempt."""
    row.run_after, row.leased_until = until, None
    row.attempts = max(0, row.attempts - 1)
    if note:
        row.last_error = note[:MAX_ERROR]


def finish(pb: Postbox, job: Job, effects: Effects | None = None, *,
           note: str | None = None) -> bool:
    """Mark the job done with ``effects`` in the same transaction; False if already finished."""
    with writer(pb)() as session:
        row = _locked(session, job, owned=False)
        if row is None:
            return False
        if effects is not None:
            effects(session)
        finish_row(row, pb.clock.now(), note)
        session.commit()
        return True


def finish_many(pb: Postbox, done: list[tuple[Job, Effects]]) -> int:
    """Finish several jobs, each with its effects, in ONE transaction (all or none); jobs
    already finished are skipped. The caller orders them so that concurrent callers take
    row locks in the same order. Returns how many were finished."""
    with writer(pb)() as session:
        finished = 0
        for job, effects in done:
            row = _locked(session, job, owned=False)
            if row is None:
                continue
            effects(session)
            finish_row(row, pb.clock.now())
            finished += 1
        session.commit()
        return finished


@contextmanager
def locked(pb: Postbox, job: Job) -> Iterator[tuple[Session, Outbox] | None]:
    """A write transaction holding the job's row lock while the job is still ours (else
    None). The caller commits; leaving without commit rolls back."""
    with writer(pb)() as session:
        row = _locked(session, job, owned=True)
        yield (session, row) if row is not None else None


def renew(pb: Postbox, job: Job, lease_s: int | None = None) -> Job | None:
    """Extend the lease of a job still ours; None if it was lost or finished meanwhile."""
    with locked(pb, job) as held:
        if held is None:
            return None
        session, row = held
        row.leased_until = pb.clock.now() + timedelta(
            seconds=lease_s or pb.settings.outbox_lease_s)
        session.commit()
        return _job(row)


def fail(pb: Postbox, job: Job, error: str, backoff: Backoff, *, permanent: bool = False,
         effects: Effects | None = None, on_dead: Effects | None = None) -> str:
    """Record a failed attempt: ``retry`` after a backoff, or ``dead`` when out of attempts or
    ``permanent`` (then ``on_dead`` runs in the same transaction). ``lost`` if no longer ours."""
    now = pb.clock.now()
    with writer(pb)() as session:
        row = _locked(session, job, owned=True)
        if row is None:
            return "lost"
        if effects is not None:
            effects(session)
        row.last_error, row.leased_until = error[:MAX_ERROR], None
        if permanent or row.attempts >= pb.settings.outbox_max_attempts:
            row.status, row.done_at = "dead", now
            if on_dead is not None:
                on_dead(session)
            outcome = "dead"
        else:
            row.run_after = now + backoff.delay(row.attempts)
            outcome = "retry"
        session.commit()
        return outcome


def defer(pb: Postbox, job: Job, until: datetime, note: str | None = None) -> bool:
    """Put the job back until ``until`` without counting this run as a failed attempt."""
    with locked(pb, job) as held:
        if held is None:
            return False
        session, row = held
        defer_row(row, until, note)
        session.commit()
        return True


def cancel(session: Session, job_id: str, reason: str, at: datetime) -> bool:
    """Close a pending job that is no longer wanted (in the caller's transaction)."""
    result = session.execute(
        update(Outbox).where(Outbox.id == job_id, Outbox.status == "pending")
        .values(status="done", done_at=at, last_error=reason[:MAX_ERROR], dedupe_key=None,
                leased_until=None))
    return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class JobView:
    id: str
    kind: str
    status: str
    attempts: int
    run_after: datetime
    created_at: datetime
    last_error: str | None


def _view(row: Outbox) -> JobView:
    return JobView(row.id, row.kind, row.status, row.attempts, row.run_after, row.created_at,
                   row.last_error)


def dead_letters(pb: Postbox, limit: int = 100) -> list[JobView]:
    """Jobs that gave up, newest first."""
    with pb.uow() as uow:
        rows = uow.session.scalars(select(Outbox).where(Outbox.status == "dead")
                                   .order_by(Outbox.done_at.desc(), Outbox.id).limit(limit))
        return [_view(r) for r in rows]


def requeue(pb: Postbox, job_id: str) -> JobView:
    """Give a dead job a fresh set of attempts, due now."""
    with writer(pb)() as session:
        row = session.scalar(select(Outbox).where(Outbox.id == job_id).with_for_update())
        if row is None or row.status != "dead":
            raise NotFound("no dead job with that id")
        row.status, row.attempts, row.done_at = "pending", 0, None
        row.run_after, row.leased_until, row.lease_owner = pb.clock.now(), None, None
        session.commit()
        return _view(row)


def counts(pb: Postbox) -> dict[tuple[str, str], int]:
    """Number of jobs per (kind, status)."""
    with pb.uow() as uow:
        rows = uow.session.execute(select(Outbox.kind, Outbox.status, func.count())
                                   .group_by(Outbox.kind, Outbox.status))
        return {(kind, status): n for kind, status, n in rows}


def oldest_due(pb: Postbox) -> datetime | None:
    """When the longest-waiting due job became due (None when nothing is due)."""
    now = pb.clock.now()
    with pb.uow() as uow:
        return uow.session.scalar(select(func.min(Outbox.run_after)).where(
            Outbox.status == "pending", Outbox.run_after <= now))


def purge(pb: Postbox, keep_days: int = 30, limit: int = 5000) -> int:
    """Delete finished (``done``) jobs older than ``keep_days``; dead letters stay."""
    cutoff = pb.clock.now() - timedelta(days=keep_days)
    with writer(pb)() as session:
        ids = list(session.scalars(select(Outbox.id).where(
            Outbox.status == "done", Outbox.done_at < cutoff).limit(limit)))
        if ids:
            session.execute(delete(Outbox).where(Outbox.id.in_(ids)))
        session.commit()
        return len(ids)
