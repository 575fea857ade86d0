"""The job worker: claims due outbox jobs and runs each kind's handler.

``postbox worker`` runs :meth:`Worker.run_forever` (several may run against PostgreSQL);
with SQLite, ``postbox serve`` runs one in a thread (:func:`start_worker_thread`). Tests
drive :meth:`Worker.drain` with a frozen clock: no sleeping.

A handler either finishes its job itself (``outbox.finish``) or raises ``outbox.Retry`` /
``outbox.Fail``; any other exception is logged and retried like ``Retry``. When a job goes
dead, the kind's ``on_dead`` effects run in the same transaction (e.g. ``notice_failed``).
"""
from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from postbox import (
    batch_settle,
    batches,
    checkpoints,
    escalation,
    notices,
    outbox,
    reminders,
    webhook_delivery,
)
from postbox.bootstrap import Postbox
from postbox.mail import Mailer, open_mailer
from postbox.models import new_id

log = logging.getLogger("postbox.worker")
Handler = Callable[[outbox.Context, outbox.Job], None]
DeadHook = Callable[[outbox.Context, outbox.Job], outbox.Effects]
PURGE_EVERY_S = 3600
KEEP_DONE_DAYS = 30


ManyHandler = Callable[[outbox.Context, list[outbox.Job]], None]


@dataclass(frozen=True)
class Kind:
    run: Handler
    on_dead: DeadHook | None = None
    # Optional: the claimed jobs of this kind together, in one transaction; if that fails,
    # each job runs alone through ``run`` (so one bad job cannot hold up the others).
    run_many: ManyHandler | None = None


def default_kinds() -> dict[str, Kind]:
    return {
        "notice": Kind(notices.handle_notice, run_many=notices.handle_notices),
        notices.MAIL_KIND: Kind(notices.handle_mail, notices.mail_gave_up),
        reminders.KIND: Kind(reminders.handle_reminder),
        escalation.KIND: Kind(escalation.handle_step),
        "webhook": Kind(webhook_delivery.handle_delivery),
        "org_alert": Kind(webhook_delivery.handle_alert),
        batches.SETTLE_JOB: Kind(batch_settle.handle_job),  # close/cancel continue here
    }


def owner_name() -> str:
    """Who holds a lease: host, process and a random suffix (unique per Worker)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{new_id()[:8]}"


class Worker:
    def __init__(self, pb: Postbox, *, mailer: Mailer | None = None,
                 kinds: Mapping[str, Kind] | None = None, rng: random.Random | None = None,
                 owner: str | None = None, batch: int = 32) -> None:
        self.pb = pb
        self.owner = owner or owner_name()
        self.batch = batch
        self.kinds = dict(kinds if kinds is not None else default_kinds())
        backoff = outbox.Backoff(pb.settings.outbox_backoff_base_s,
                                 pb.settings.outbox_backoff_cap_s, rng or random.Random())
        self.ctx = outbox.Context(pb, mailer or open_mailer(pb.settings),
                                  webhook_delivery.http_client(pb.settings.webhook_timeout_s),
                                  backoff)

    def close(self) -> None:
        self.ctx.http.close()

    def run_once(self) -> int:
        """Claim one batch of due jobs and run them; the number claimed."""
        jobs = outbox.claim(self.pb, self.owner, limit=self.batch)
        half = timedelta(seconds=self.pb.settings.outbox_lease_s / 2)
        for job in self._run_grouped(jobs):
            if self.pb.clock.now() > job.leased_until - half:
                # Long batch: extend the lease before starting, or leave the job to others.
                renewed = outbox.renew(self.pb, job)
                if renewed is None:
                    continue
                job = renewed
            self.run_job(job)
        return len(jobs)

    def _run_grouped(self, jobs: list[outbox.Job]) -> list[outbox.Job]:
        """Run the kinds that take many jobs at once; the jobs left for one-by-one."""
        alone: list[outbox.Job] = []
        groups: dict[str, list[outbox.Job]] = {}
        for job in jobs:
            kind = self.kinds.get(job.kind)
            if kind is not None and kind.run_many is not None:
                groups.setdefault(job.kind, []).append(job)
            else:
                alone.append(job)
        for name, group in groups.items():
            run_many = self.kinds[name].run_many
            assert run_many is not None  # grouped above
            try:
                run_many(self.ctx, group) if len(group) > 1 else self.run_job(group[0])
            except Exception as exc:  # e.g. a deadlock or one bad job: retry them one by one
                log.warning("%d %s jobs together failed (%s); running them one by one",
                            len(group), name, type(exc).__name__)
                alone.extend(group)
        return alone

    def run_job(self, job: outbox.Job) -> None:
        kind = self.kinds.get(job.kind)
        if kind is None:
            outbox.fail(self.pb, job, f"no handler for job kind {job.kind!r}", self.ctx.backoff,
                        permanent=True)
            return
        on_dead = kind.on_dead(self.ctx, job) if kind.on_dead else None
        try:
            kind.run(self.ctx, job)
        except outbox.Fail as exc:
            outbox.fail(self.pb, job, str(exc), self.ctx.backoff, permanent=True,
                        on_dead=on_dead)
        except outbox.Retry as exc:
            outcome = outbox.fail(self.pb, job, str(exc), self.ctx.backoff, on_dead=on_dead)
            log.info("job %s (%s) failed, %s: %s", job.id, job.kind, outcome, exc)
        except Exception as exc:
            log.exception("job %s (%s) crashed", job.id, job.kind)
            outbox.fail(self.pb, job, f"{type(exc).__name__}: {exc}", self.ctx.backoff,
                        on_dead=on_dead)

    def drain(self, max_rounds: int = 10_000) -> int:
        """Run until nothing is due (at the clock's time); the number of jobs run."""
        total = 0
        for _ in range(max_rounds):
            ran = self.run_once()
            if not ran:
                break
            total += ran
        return total

    def run_forever(self, stop: threading.Event, idle_s: float = 1.0,
                    tick: Callable[[], None] | None = None) -> None:
        """Poll for work until ``stop`` is set; a database outage is waited out."""
        log.info("worker %s started; mail goes to %s", self.owner, self.ctx.mailer.describe())
        next_purge = time.monotonic() + PURGE_EVERY_S
        while not stop.is_set():
            try:
                ran = self.run_once()
                if time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + PURGE_EVERY_S
                    outbox.purge(self.pb, KEEP_DONE_DAYS)
            except SQLAlchemyError as exc:
                log.warning("worker: database unavailable (%s); retrying", type(exc).__name__)
                ran = 0
            if tick is not None:
                tick()
            if not ran:
                stop.wait(idle_s)


@dataclass
class WorkerHandle:
    """A running worker thread; ``stop()`` lets the current job finish, then joins."""

    thread: threading.Thread
    event: threading.Event
    worker: Worker

    def stop(self, timeout: float = 30.0) -> None:
        self.event.set()
        self.thread.join(timeout)
        self.worker.close()


def start_worker_thread(pb: Postbox, *, idle_s: float = 1.0, **worker_kw: object) -> WorkerHandle:
    """The embedded default: one worker thread inside ``postbox serve`` (SQLite)."""
    worker = Worker(pb, **worker_kw)  # type: ignore[arg-type]
    event = threading.Event()
    # Each poll also sequences new evidence into the log and signs a checkpoint when due.
    thread = threading.Thread(target=worker.run_forever,
                              args=(event, idle_s, lambda: checkpoints.log_tick(pb)),
                              name="postbox-worker", daemon=True)
    thread.start()
    return WorkerHandle(thread, event, worker)
