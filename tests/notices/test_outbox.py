"""The outbox itself: leases, re-claims after a crash, and two PostgreSQL workers at once."""
from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from postbox import outbox
from postbox.bootstrap import build
from postbox.db import make_engine
from postbox.models import Outbox
from postbox.worker import Kind, Worker

from .conftest import jobs


def _add(pb, n: int, kind: str = "probe") -> None:  # type: ignore[no-untyped-def]
    with pb.uow() as uow:
        for i in range(n):
            outbox.enqueue(uow.session, kind, {"n": i}, at=pb.clock.now())
        uow.commit()


def test_a_lease_keeps_others_off_until_it_runs_out(pb, clock) -> None:
    _add(pb, 1)
    [job] = outbox.claim(pb, "a")
    assert outbox.claim(pb, "b") == []
    clock.advance(seconds=pb.settings.outbox_lease_s)
    [again] = outbox.claim(pb, "b")
    assert again.id == job.id and again.attempts == 2
    # The first owner wakes up late: it can no longer fail, defer or renew the job ...
    backoff = outbox.Backoff(1, 1, random.Random(1))
    assert outbox.fail(pb, job, "late", backoff) == "lost"
    assert outbox.renew(pb, job) is None
    # ... and whoever finishes first records the outcome, once.
    assert outbox.finish(pb, again) is True
    assert outbox.finish(pb, job) is False


def test_dedupe_keys_make_enqueue_idempotent(pb) -> None:
    with pb.uow() as uow:
        first = outbox.enqueue(uow.session, "probe", {}, at=pb.clock.now(), dedupe_key="k")
        uow.session.flush()
        again = outbox.enqueue(uow.session, "probe", {}, at=pb.clock.now(), dedupe_key="k")
        uow.commit()
    assert first is not None and again is None and len(jobs(pb)) == 1


def test_unknown_kinds_go_dead_visibly(pb, make_worker) -> None:
    _add(pb, 1, kind="mystery")
    make_worker().drain()
    [dead] = outbox.dead_letters(pb)
    assert "no handler" in (dead.last_error or "")


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_workers_share_2000_jobs_on_postgresql(pb, settings, clock) -> None:
    total = 2000
    _add(pb, total)
    runs: list[tuple[str, str, int]] = []
    lock = threading.Lock()

    def probe(ctx: outbox.Context, job: outbox.Job) -> None:
        with lock:
            runs.append((job.id, job.owner, job.attempts))
        outbox.finish(ctx.pb, job)

    services = [build(settings, clock=clock, engine=make_engine(settings.database_url))
                for _ in range(2)]
    workers = [Worker(s, kinds={"probe": Kind(probe)}, owner=f"w{n}", batch=25)
               for n, s in enumerate(services)]
    start = threading.Barrier(2)

    def run(w: Worker) -> None:
        start.wait()
        w.drain()

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for w, s in zip(workers, services):
        w.close()
        s.close()
    ids = Counter(job_id for job_id, _, _ in runs)
    assert len(ids) == total and max(ids.values()) == 1  # none twice within a lease
    per_worker = Counter(owner for _, owner, _ in runs)
    assert set(per_worker) == {"w0", "w1"} and min(per_worker.values()) > total // 10
    with pb.uow() as uow:
        left = uow.session.scalar(select(func.count()).select_from(Outbox)
                                  .where(Outbox.status != "done"))
    assert left == 0  # none left behind


def test_kinds_that_take_many_jobs_get_them_together_and_alone_after_a_failure(pb) -> None:
    _add(pb, 5, kind="many")
    calls: list[int] = []

    def run_many(ctx, group) -> None:  # type: ignore[no-untyped-def]
        calls.append(len(group))
        outbox.finish_many(ctx.pb, [(job, lambda s: None) for job in group])

    worker = Worker(pb, kinds={"many": Kind(lambda ctx, job: None, run_many=run_many)})
    assert worker.run_once() == 5 and calls == [5]
    assert {j.status for j in jobs(pb, "many")} == {"done"}

    # A group that fails (say, a deadlock) is rolled back and each job runs alone.
    _add(pb, 3, kind="flaky")
    alone: list[str] = []

    def broken(ctx, group) -> None:  # type: ignore[no-untyped-def]
        outbox.finish_many(ctx.pb, [(job, lambda s: None) for job in group[:1]] + [
            (group[1], lambda s: 1 / 0)])

    def one(ctx, job) -> None:  # type: ignore[no-untyped-def]
        alone.append(job.id)
        outbox.finish(ctx.pb, job)

    worker = Worker(pb, kinds={"flaky": Kind(one, run_many=broken)})
    assert worker.run_once() == 3
    assert len(alone) == 3 and {j.status for j in jobs(pb, "flaky")} == {"done"}


def test_a_batch_of_arrivals_becomes_notice_items_in_one_go(pb, org, make_worker) -> None:
    from postbox.models import NoticeItem

    from .conftest import invite, send

    for ext, email in (("A-1", "a@example.org"), ("B-1", "b@example.org")):
        invite(pb, org, ext, email)
    docs = [send(pb, org, ext) for ext in ("A-1", "B-1", "A-1", "B-1", "A-1")]
    worker = make_worker()
    assert worker.run_once() == 5  # the five arrival causes, claimed and run together
    with pb.uow() as uow:
        items = list(uow.session.scalars(select(NoticeItem.document_id)))
        mails = uow.session.scalar(select(func.count()).select_from(Outbox).where(
            Outbox.kind == "notice_mail")) or 0
    assert sorted(items) == sorted(docs)
    assert mails == 2  # one coalesced notice per recipient
