"""A worker process killed with SIGKILL mid-batch loses nothing; a re-send keeps its Message-ID."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from postbox import notices
from postbox.bootstrap import Postbox, build
from postbox.clock import SystemClock
from postbox.db import make_engine
from postbox.mail import SmtpMailer, parse_smtp_url
from postbox.models import Evidence, Outbox
from postbox.worker import Worker
from tests.fixtures.postbox import CHEAP_ENV

from .conftest import invite, send

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = 12
BATCH = 4
LEASE_S = 3


@pytest.fixture
def live_pb(settings) -> Iterator[Postbox]:  # type: ignore[no-untyped-def]
    """The service on the real clock, as the worker process sees it."""
    pb = build(settings.with_overrides(outbox_lease_s=LEASE_S), clock=SystemClock(),
               engine=make_engine(settings.database_url))
    yield pb
    pb.close()


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _pending(pb: Postbox) -> int:
    with pb.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(Outbox)
                                  .where(Outbox.status == "pending")) or 0


def test_sigkill_mid_batch_loses_nothing(live_pb, settings, smtp_server) -> None:
    from postbox import orgs

    org = orgs.create_org(live_pb, "Acme Bank", "acme").slug
    for n in range(PEOPLE):
        invite(live_pb, org, f"C-{n}", f"p{n}@example.org")
        send(live_pb, org, f"C-{n}")
    smtp_server.delay_s = 0.25  # slow enough to be killed in the middle of a send
    env = {**os.environ, **CHEAP_ENV, "POSTBOX_HOME": str(settings.home),
           "POSTBOX_DATABASE_URL": settings.database_url,
           "POSTBOX_MASTER_KEY": settings.master_key_hex or "",
           "POSTBOX_SMTP_URL": smtp_server.url, "POSTBOX_OUTBOX_LEASE": str(LEASE_S)}
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "worker", "--batch", str(BATCH),
                             "--idle", "0.1"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Kill while the server holds the 4th message but has not answered yet.
        _wait(lambda: len(smtp_server.transactions) >= 4 or proc.poll() is not None, 30,
              "the worker to send a few notices")
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert _pending(live_pb) > 0  # it really died with work left

    survivor = Worker(live_pb, mailer=SmtpMailer(parse_smtp_url(smtp_server.url)))
    try:
        def done() -> bool:
            survivor.drain()
            return _pending(live_pb) == 0
        _wait(done, LEASE_S + 20, "the survivor to finish after the lease ran out")
    finally:
        survivor.close()
    time.sleep(smtp_server.delay_s + 0.1)  # a DATA the dead worker began may still land

    ids_by_rcpt: dict[str, set[str]] = defaultdict(set)
    for tx in smtp_server.accepted:
        ids_by_rcpt[tx.rcpt_tos[0]].add(tx.message["Message-ID"])
    assert set(ids_by_rcpt) == {f"p{n}@example.org" for n in range(PEOPLE)}  # 0 lost
    assert all(len(ids) == 1 for ids in ids_by_rcpt.values())  # never a new Message-ID
    with live_pb.uow() as uow:
        s = uow.session
        mail_jobs = list(s.scalars(select(Outbox).where(Outbox.kind == notices.MAIL_KIND)))
        assert {notices.message_id(j.id, live_pb.settings) for j in mail_jobs} == set().union(
            *ids_by_rcpt.values())
        assert all(j.status == "done" for j in mail_jobs)
        notified = s.scalar(select(func.count()).select_from(Evidence)
                            .where(Evidence.event == "notified"))
    assert notified == PEOPLE  # one per document, however often the e-mail went out
    # The message in flight at the kill went out twice, with the same Message-ID; nothing else.
    assert 1 <= len(smtp_server.accepted) - PEOPLE <= BATCH
