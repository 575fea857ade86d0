"""Issue 10's last acceptance item: two web nodes and two workers, one PostgreSQL, one S3.

Two gunicorn web nodes (``web:create_app()``, as docker-compose.yml runs ``web``) and two
``postbox worker`` processes share one PostgreSQL database, one SeaweedFS bucket, one Redis
database (rate limits) and one SMTP server; each has its own instance folder (copies of the
key files, nothing else). Before the batch, the state a web node might keep in memory is
shown to be shared: a login rate limit counts across both nodes, a lockout earned on both
holds on either, a batch created on one is replayed on the other, a session from one works on
the other. Then a 10,000-item batch goes through a round-robin of both nodes while recipients
log in; at half, web node A dies with SIGKILL (its in-flight requests go to B again); after
closing, worker 1 dies with SIGKILL halfway through the first round of notices. Afterwards:
10,000 consigned, notices per the window with duplicates within the bound (docs/scale.md),
evidence and the Merkle log consistent, and no orphan blob once the reaper ran.
"""
from __future__ import annotations

import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from cli.apiclient import Upload
from crypto.totp import code_at
from postbox import activation, orgs, recipients
from postbox.bootstrap import Postbox, build
from postbox.clock import SystemClock
from postbox.config import load_settings
from postbox.instance import init_instance
from postbox.integrity import check_storage
from postbox.models import Document, Evidence, Outbox, PendingBlob, Recipient
from postbox.reaper import reap_orphans
from tests.fixtures.postbox import CHEAP_ENV, PIN, pdf_bytes
from tests.reliability.invariants import World, default_invariants

from .checks import check_log, check_notices
from .nodes import Proc, start_web, start_worker, wait_ready
from .traffic import Browser, RoundRobin

pytestmark = [pytest.mark.postgres, pytest.mark.s3, pytest.mark.slow, pytest.mark.timeout(1800)]

ITEMS = int(os.environ.get("POSTBOX_SCALE_ITEMS", "10000"))
PEOPLE = 100
GROUP = 25  # items per request
UPLOADERS = 4  # requests in flight
WINDOW_S = 10  # POSTBOX_NOTICE_WINDOW
LEASE_S = 8  # POSTBOX_OUTBOX_LEASE: how long a dead worker's jobs wait for another
LOGIN_LIMIT = 10  # the per-minute part of PORTAL_LOGIN_LIMIT ("10 per minute;100 per hour")
MAX_FAILURES = 5  # POSTBOX_LOGIN_MAX_FAILURES (default)
WORKERS_KILLED = 1
STALL_S = 120  # no job finished and no document notified for this long fails the test


@dataclass
class Person:
    external_id: str
    email: str
    totp_secret: str

    def otp(self) -> str:
        return code_at(self.totp_secret, time.time())


@dataclass
class Deployment:
    pb: Postbox  # the test's own view of the shared stores
    env: dict[str, str]
    token: str
    people: list[Person]
    tmp: Path

    def node_env(self, name: str) -> dict[str, str]:
        """Each process its own instance folder, holding only copies of the key files."""
        home = self.tmp / name
        shutil.copytree(self.env["POSTBOX_HOME"] + "/keys", home / "keys")
        return {**self.env, "POSTBOX_HOME": str(home)}


@pytest.fixture
def deployment(tmp_path: Path, scale_db: str, redis_url: str, s3_server, s3_bucket,  # type: ignore[no-untyped-def]
               smtp_server, monkeypatch) -> Iterator[Deployment]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTBOX_")}
    env.update(CHEAP_ENV, **s3_server.env(s3_bucket), POSTBOX_HOME=str(tmp_path / "setup"),
               POSTBOX_DATABASE_URL=scale_db, POSTBOX_MASTER_KEY=secrets.token_hex(32),
               POSTBOX_RATELIMIT_URL=redis_url, POSTBOX_SMTP_URL=smtp_server.url,
               POSTBOX_NOTICE_WINDOW=str(WINDOW_S), POSTBOX_OUTBOX_LEASE=str(LEASE_S),
               POSTBOX_OUTBOX_BACKOFF_BASE="1", PYTHONUNBUFFERED="1")
    for name, value in s3_server.env(s3_bucket).items():  # the test's own S3 client
        monkeypatch.setenv(name, value)
    settings = load_settings(env)
    init_instance(settings, SystemClock().now())  # migrates, as `postbox init` in compose
    pb = build(settings)
    try:
        orgs.create_org(pb, "Acme Bank", "acme")
        token = orgs.create_token(pb, "acme", "sender")
        people = []
        for n in range(PEOPLE):
            code = recipients.invite_recipient(pb, "acme", f"R-{n}", f"r{n}@example.org")\
                .activation_code
            assert code is not None
            start = activation.begin_activation(pb, code)
            # The previous step (within the accepted skew), so the login's code is a later one
            # than this and not refused as a replay.
            activation.activate(pb, code, PIN, PIN,
                                code_at(start.totp_secret, time.time() - 30))
            people.append(Person(f"R-{n}", f"r{n}@example.org", start.totp_secret))
        yield Deployment(pb, env, token, people, tmp_path)
    finally:
        pb.close()


def _start(dep: Deployment) -> dict[str, Proc]:
    plans = {"web-a": start_web, "web-b": start_web, "worker-1": start_worker,
             "worker-2": start_worker}
    procs = {name: start(name, dep.node_env(name), dep.tmp / f"{name}.log")
             for name, start in plans.items()}
    try:
        wait_ready(list(procs.values()))
    except RuntimeError:
        for proc in procs.values():
            proc.kill()
        raise
    return procs


def _login(person: Person, address: str, first: str, second: str) -> Browser:
    """Log in on node ``first``; the next request goes to ``second`` and must be inside."""
    browser = Browser(address)
    assert browser.get(f"{first}/login").status_code == 200
    answer = browser.post(f"{first}/login", {"identifier": person.email, "pin": PIN,
                                             "otp": person.otp()})
    assert answer.status_code == 302 and answer.headers["location"].endswith("/inbox"), \
        f"login on {first}: {answer.status_code}"
    inbox = browser.get(f"{second}/inbox")
    assert inbox.status_code == 200, f"the session from {first} is unknown on {second}"
    return browser


def _shared_state_checks(dep: Deployment, a: str, b: str, redis_url: str) -> Browser:
    # Rate limit: one address, alternating nodes; shared counters allow LOGIN_LIMIT in all.
    probe = Browser("127.0.0.2")
    probe.get(f"{a}/login")
    statuses = [probe.post(f"{(a, b)[i % 2]}/login", {"identifier": "nobody@example.org",
                                                      "pin": "123456", "otp": "000000"})
                .status_code for i in range(LOGIN_LIMIT + 4)]
    assert 429 not in statuses[:LOGIN_LIMIT] and set(statuses[LOGIN_LIMIT:]) == {429}, statuses
    keys = redis.Redis.from_url(redis_url).keys("*127.0.0.2*")
    assert keys, "the limiter left no counter in Redis"
    probe.close()
    # Lockout: failures on both nodes add up in the database; the right PIN is then refused.
    victim = dep.people[-1]
    thief = Browser("127.0.0.3")
    thief.get(f"{a}/login")
    for i in range(MAX_FAILURES):
        thief.post(f"{(a, b)[i % 2]}/login", {"identifier": victim.email, "pin": "111111",
                                               "otp": victim.otp()})
    refused = thief.post(f"{b}/login", {"identifier": victim.email, "pin": PIN,
                                        "otp": victim.otp()})
    assert refused.status_code == 423, refused.status_code
    thief.close()
    with dep.pb.uow() as uow:
        row = uow.session.scalar(select(Recipient).where(Recipient.email == victim.email))
        assert row is not None and row.locked_until is not None
    # A session begun on A is good on B (and kept, to be used after A dies).
    return _login(dep.people[0], "127.0.1.100", a, b)


def _upload(rr: RoundRobin, batch_id: str, pdf: Path, people: list[Person],
            progress: list[int]) -> list[dict[str, object]]:
    def group(start: int) -> list[dict[str, object]]:
        uploads = [Upload({"key": f"item-{i}", "recipient": people[i % PEOPLE].external_id,
                           "subject": f"Statement {i}"}, pdf, "statement.pdf")
                   for i in range(start, min(start + GROUP, ITEMS))]
        outcomes = rr.call(lambda api: api.add_items(batch_id, uploads))
        progress[0] += len(outcomes)
        return outcomes

    with ThreadPoolExecutor(UPLOADERS) as pool:
        return [o for outs in pool.map(group, range(0, ITEMS, GROUP)) for o in outs]


def test_two_web_nodes_two_workers_survive_sigkill(deployment: Deployment, redis_url: str,
                                                   smtp_server) -> None:
    dep, started = deployment, time.monotonic()
    smtp_server.delay_s = 0.02  # a send takes a moment, so a kill can land in one
    procs = _start(dep)
    rr: RoundRobin | None = None
    try:
        a, b = procs["web-a"].url, procs["web-b"].url
        kept = _shared_state_checks(dep, a, b, redis_url)
        rr = RoundRobin([a, b], dep.token)
        created = rr.clients[a].create_batch("scale-batch", "10k statements")
        again = rr.clients[b].create_batch("scale-batch", "10k statements")
        assert again["id"] == created["id"] and again["replayed"] and not created["replayed"]
        batch_id = created["id"]
        pdf = dep.tmp / "statement.pdf"
        pdf.write_bytes(pdf_bytes("Statement"))

        progress, logins, killed_at = [0], 1, -1
        results: list[dict[str, object]] = []
        uploading = threading.Thread(target=lambda: results.extend(
            _upload(rr, batch_id, pdf, dep.people, progress)))
        t0 = time.monotonic()
        uploading.start()
        while uploading.is_alive():  # recipients log in meanwhile; A dies at half
            if procs["web-a"].alive() and progress[0] >= ITEMS // 2:
                procs["web-a"].kill()
                killed_at = progress[0]
            live = [u for u in (a, b) if u == b or procs["web-a"].alive()]
            if logins < PEOPLE - 1:
                _login(dep.people[logins], f"127.0.1.{logins}", live[logins % len(live)],
                       live[(logins + 1) % len(live)]).close()
                logins += 1
            uploading.join(0.5)
        upload_s = time.monotonic() - t0
        assert not procs["web-a"].alive(), "the batch ended before node A was killed"
        assert len(results) == ITEMS
        bad = [r for r in results if r["problem"] or r["status"] != "accepted"]
        assert not bad, bad[:3]

        worker_killed = threading.Event()

        def kill_worker_midway() -> None:
            while len(smtp_server.accepted) < PEOPLE // 2:
                time.sleep(0.05)
            procs["worker-1"].kill()
            worker_killed.set()

        threading.Thread(target=kill_worker_midway, daemon=True).start()
        t1 = time.monotonic()
        while (batch := rr.call(lambda api: api.settle(batch_id, "close")))["pending"]:
            pass
        assert batch["state"] == "delivered", batch
        notified, done, moved_at = 0, 0, time.monotonic()
        while notified < ITEMS:  # fail on a stall, not on a slow (shared, loaded) machine
            now = (_count(dep.pb, "notified"), _jobs_done(dep.pb))
            if now > (notified, done):
                (notified, done), moved_at = now, time.monotonic()
            assert time.monotonic() - moved_at < STALL_S, \
                f"{notified} of {ITEMS} notified, {done} jobs done, no progress for {STALL_S} s"
            assert procs["worker-2"].alive(), procs["worker-2"].tail()
            time.sleep(0.5)
        notify_s = time.monotonic() - t1
        assert worker_killed.is_set()

        inbox = kept.get(f"{b}/inbox")  # the session begun on A outlived A
        assert inbox.status_code == 200 and "Statement " in inbox.text
        kept.close()
    finally:
        for proc in procs.values():
            proc.stop()
        if rr is not None:
            rr.close()

    print(f"\nmany nodes: {ITEMS} items to {PEOPLE} recipients; upload {upload_s:.1f} s "
          f"({ITEMS / upload_s:.0f} items/s) over 2 gunicorn nodes, requests A/B "
          f"{rr.calls[a]}/{rr.calls[b]}, {rr.failovers} failover(s) after A was killed at "
          f"{killed_at} items; {logins} logins; close + all notified in {notify_s:.1f} s; "
          f"until then {time.monotonic() - started:.0f} s")
    _after_the_run(dep, smtp_server, batch_id)
    print(f"many nodes: total {time.monotonic() - started:.0f} s")


def _count(pb: Postbox, event: str) -> int:
    with pb.uow() as uow:
        return uow.session.scalar(select(func.count(func.distinct(Evidence.document_id)))
                                  .where(Evidence.event == event)) or 0


def _jobs_done(pb: Postbox) -> int:
    with pb.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(Outbox)
                                  .where(Outbox.status == "done")) or 0


def _after_the_run(dep: Deployment, smtp_server, batch_id: str) -> None:  # type: ignore[no-untyped-def]
    pb = dep.pb
    with pb.uow() as uow:
        s = uow.session
        documents = s.scalar(select(func.count()).select_from(Document)) or 0
        consigned = list(s.execute(select(Evidence.document_id, func.count())
                                   .where(Evidence.event == "consigned")
                                   .group_by(Evidence.document_id)).all())
        intents = s.scalar(select(func.count()).select_from(PendingBlob)) or 0
    assert documents == ITEMS and len(consigned) == ITEMS
    assert all(n == 1 for _, n in consigned)
    figures = check_notices(pb, smtp_server.accepted, {p.email for p in dep.people}, WINDOW_S,
                            max_duplicates=WORKERS_KILLED)
    reaped = reap_orphans(pb, grace=timedelta(0))
    assert not reaped.failed
    report = check_storage(pb)
    assert report.ok and report.checked == ITEMS, report
    assert len(list(pb.store.list("docs/"))) == ITEMS  # no orphan blob left
    world = World(pb, extra={"mails": smtp_server.messages, "settled_batches": [batch_id]})
    default_invariants().assert_holds(world, only=("I2", "I3", "I5", "I6"))  # I1: check_storage
    size, signed = check_log(pb)
    print(f"\nmany nodes: {figures.emails} notice e-mails, {figures.distinct} distinct, "
          f"{figures.duplicates} duplicate(s) (bound {WORKERS_KILLED}), at most "
          f"{figures.most_per_recipient} per recipient, closest two "
          f"{figures.smallest_gap_s} s apart (window {WINDOW_S} s); {intents} intent row(s) "
          f"before the reaper, {len(reaped.removed)} orphan blob(s) reaped; log {size} leaves, "
          f"{signed} checkpoints, all consistent")
