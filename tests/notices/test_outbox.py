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
