"""F6: the server or its database dies in the middle of a batch upload, and comes back.

(a) SQLite: ``postbox serve`` runs as its own process; a batch streams through the API in one
    request; once the server has stored a random part of it (seeded), it is killed with
    SIGKILL. After a restart the client sends the same batch again with the same idempotency
    keys: exactly n items and one document per deliverable item, nothing twice.
(b) PostgreSQL: the same against a THROWAWAY cluster (never the shared server on 5432), but
    the database is stopped with ``pg_ctl -m immediate`` while the request is in flight and
    started again on the same port. The in-flight request must end with a clear 5xx problem
    (not hang), the service must be ready and serve a fresh request within 30 s of the
    database being back, and the re-run completes exactly.

After every scenario: I1 (blobs), I2 (every item settled), I5 (evidence), I6 (database), and
after the reaper no orphan blob and no delivery intent is left. The kill point comes from the
test's seeded random source (``POSTBOX_RELIABILITY_SEED``, printed in the summary).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from postbox import orgs, recipients
from postbox.bootstrap import Postbox, build
from postbox.clock import SystemClock
from postbox.db import make_engine, migrate
from postbox.instance import create_key_files
from postbox.models import BatchItem, Document, Evidence, PendingBlob
from postbox.reaper import reap_orphans
from tests.fixtures.databases import _free_port, _pg_bindir
from tests.fixtures.postbox import cheap_settings, pdf_bytes
from tests.reliability.chaos import FULL, Chaos, repetitions
from tests.reliability.invariants import Invariants, World
from tests.reliability.rig import (
    BOUNDARY,
    RECONNECT_S,
    Mailing,
    PgCluster,
    ServerProcess,
    open_upload,
    read_answer,
    rows,
    wait_for,
)
from web import create_app

PEOPLE = 5
# The server reads request bodies in 64 KiB pieces (web/api/multipart.py): items of about
# half that make the kill land between items, a couple of items behind what was sent.
ITEM_BYTES = 32 * 1024
BEHIND = 3


def mailing(count: int, people: list[str]) -> Mailing:
    items = []
    for n in range(count):
        # Every seventh row names a customer number nobody has: it must end up settled too
        # (unreachable or rejected, with a reason), not stuck.
        recipient = f"NOBODY-{n}" if n % 7 == 3 else people[n % len(people)]
        pdf = pdf_bytes(f"statement {n:04d}")
        pdf += b"%" + b"0" * (ITEM_BYTES - len(pdf) - 2) + b"\n"  # a PDF comment as padding
        items.append(({"key": f"f6-{n:04d}", "recipient": recipient,
                       "subject": f"Statement {n}"}, pdf))
    return Mailing(items)


def setup_sender(pb: Postbox) -> tuple[str, list[str]]:
    """An organisation, a sender token and invited recipients (documents wait for them)."""
    orgs.create_org(pb, "Acme Bank", "acme")
    people = [f"C-{n}" for n in range(PEOPLE)]
    for external_id in people:
        recipients.invite_recipient(pb, "acme", external_id, f"{external_id.lower()}@example.org")
    return orgs.create_token(pb, "acme", "sender"), people


def create_batch(server: ServerProcess, token: str, key: str) -> str:
    answer = httpx.post(server.url + "/api/v1/batches", json={"reference": "F6 run"},
                        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                        timeout=30)
    assert answer.status_code in (200, 201), answer.text
    return str(answer.json()["id"])


def stored_items(pb: Postbox) -> int:
    return rows(pb, BatchItem)


def blobs(pb: Postbox) -> int:
    return len(list(pb.store.list("")))


def wait_midway(pb: Postbox, job: Mailing, cut: int) -> None:
    """Until the server has sealed and stored the blobs of the first items sent. Item rows
    are a poor signal: the ingest fast path (postbox/ingest_items.py) writes them a chunk at
    a time, after the blobs, so a kill can land between the two."""
    wanted = sum(1 for m, _ in job.items[:cut - BEHIND] if not m["recipient"].startswith(
        "NOBODY-"))
    wait_for(lambda: blobs(pb) >= wanted, 60, f"{wanted} blobs stored")


def rerun(server: ServerProcess, token: str, job: Mailing) -> str:
    """The client's retry: the same batch key, every item with its key, then close."""
    batch_id = create_batch(server, token, job.batch_key)
    auth = {"Authorization": f"Bearer {token}"}
    answer = httpx.post(f"{server.url}/api/v1/batches/{batch_id}/items", headers={
        **auth, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        content=job.body(), timeout=120)
    assert answer.status_code == 200, answer.text
    outcomes = answer.json()["items"]
    assert len(outcomes) == len(job.items)
    assert all(o["problem"] is None and o["seq"] is not None for o in outcomes), outcomes
    job.extra["replayed"] = sum(bool(o["replayed"]) for o in outcomes)
    for _ in range(50):  # 202 while items remain to consign: call again
        closed = httpx.post(f"{server.url}/api/v1/batches/{batch_id}/close", headers=auth,
                            timeout=120)
        assert closed.status_code in (200, 202), closed.text
        if closed.json()["state"] == "delivered":
            break
    else:
        raise AssertionError(f"batch {batch_id} never delivered: {closed.text}")
    return batch_id


def assert_exactly_once(pb: Postbox, job: Mailing, batch_id: str,
                        invariants: Invariants, context: str) -> None:
    n = len(job.items)
    with pb.uow() as uow:
        s = uow.session
        keys = list(s.scalars(select(BatchItem.key).where(BatchItem.batch_id == batch_id)))
        statuses = dict(s.execute(select(BatchItem.status, func.count())
                                  .where(BatchItem.batch_id == batch_id)
                                  .group_by(BatchItem.status)).all())
        docs = s.scalar(select(func.count()).select_from(Document)) or 0
        consigned = s.scalar(select(func.count()).select_from(Evidence)
                             .where(Evidence.event == "consigned")) or 0
    assert sorted(keys) == sorted(m["key"] for m, _ in job.items), context  # each key once
    deliverable = sum(1 for m, _ in job.items if not m["recipient"].startswith("NOBODY-"))
    assert statuses.get("consigned", 0) + statuses.get("held", 0) == deliverable, statuses
    assert docs == deliverable == consigned, (docs, deliverable, consigned, context)
    assert stored_items(pb) == n
    world = World(pb, extra={"settled_batches": [batch_id]})
    invariants.assert_holds(world, only=("I1", "I2", "I5", "I6"), context=context)
    report = reap_orphans(pb, grace=timedelta(0))
    job.extra["reaped"] = report
    assert rows(pb, PendingBlob) == 0, context
    with pb.uow() as uow:
        referenced = set(uow.session.scalars(select(Document.blob_key)))
    assert set(pb.store.list("")) == referenced, context  # no orphan after the reaper
    invariants.assert_holds(world, only=("I1", "I6"), context=context + " after reaping")


def _count(chaos: Chaos) -> tuple[int, int]:
    n = 60 if FULL else 24
    cut = chaos.rng.randrange(n // 4 + BEHIND, 3 * n // 4)
    chaos.note(f"{n} items, kill after ~{cut}")
    return n, cut


# -- (a) SQLite: SIGKILL of the server mid-batch -----------------------------------------------

@pytest.mark.parametrize("run", repetitions(1, 3))
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_f6_sigkill_of_the_server_mid_batch(run: int, db_url: str, tmp_path: Path,
                                            chaos: Chaos, invariants: Invariants) -> None:
    settings = cheap_settings(tmp_path / "instance", POSTBOX_DATABASE_URL=db_url)
    create_key_files(settings)
    pb = build(settings, clock=SystemClock(), engine=make_engine(db_url))
    server = ServerProcess(settings.home, db_url, settings.master_key_hex or "")
    try:
        token, people = setup_sender(pb)
        n, cut = _count(chaos)
        job = mailing(n, people)
        server.start()
        batch_id = create_batch(server, token, job.batch_key)
        whole = job.body()
        sock = open_upload(server, token, batch_id, len(whole))
        with sock:
            sock.sendall(job.body(0, cut, closing=False))
            wait_midway(pb, job, cut)
            server.kill()
            assert read_answer(sock) is None  # the in-flight request just died with it
        stored, sealed = stored_items(pb), blobs(pb)
        chaos.note(f"killed with {stored} item rows and {sealed} blobs stored")
        assert 0 < max(stored, sealed) and stored < n, (stored, sealed)  # midway
        with pb.uow() as uow:  # nothing was consigned yet: the batch was never closed
            assert not uow.session.scalar(select(func.count()).select_from(Evidence)
                                          .where(Evidence.event == "consigned"))
        server.start()
        assert rerun(server, token, job) == batch_id
        assert job.extra["replayed"] == stored  # the stored ones came back as replays
        server.stop()
        assert_exactly_once(pb, job, batch_id, invariants, f"(killed after {stored} items)")
    finally:
        server.stop()
        pb.close()


# -- (b) PostgreSQL stopped (-m immediate) and restarted mid-batch -----------------------------

@dataclass
class PgOutcome:
    in_flight: tuple[int, dict[str, str], bytes] | None = None
    outage_ready: int | None = None
    outage_fresh: int | None = None
    outage_fresh_type: str | None = None
    reconnect_s: float | None = None
    error: str | None = None


@pytest.fixture
def pg_cluster(tmp_path: Path) -> Iterator[PgCluster]:
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL tests SKIPPED: no binaries in /usr/lib/postgresql/*/bin for "
                    "a throwaway cluster (apt-get install -y postgresql)")
    cluster = PgCluster(bindir)
    try:
        cluster.start()
    except Exception as exc:  # noqa: BLE001 - say why, loudly
        cluster.stop()
        pytest.skip(f"PostgreSQL tests SKIPPED: a throwaway cluster failed to start: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.postgres
@pytest.mark.parametrize("run", repetitions(1, 2))
def test_f6_postgres_stopped_immediately_and_restarted_mid_batch(
        run: int, pg_cluster: PgCluster, tmp_path: Path, chaos: Chaos,
        invariants: Invariants) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{pg_cluster.port}/postgres"
    migrate(url)
    settings = cheap_settings(tmp_path / "instance", POSTBOX_DATABASE_URL=url)
    create_key_files(settings)
    pb = build(settings, clock=SystemClock(), engine=make_engine(url))
    server = ServerProcess(settings.home, url, settings.master_key_hex or "")
    seen = PgOutcome()
    try:
        token, people = setup_sender(pb)
        n, cut = _count(chaos)
        job = mailing(n, people)
        server.start()
        batch_id = create_batch(server, token, job.batch_key)
        whole = job.body()
        sock = open_upload(server, token, batch_id, len(whole))
        with sock:
            head = job.body(0, cut, closing=False)
            sock.sendall(head)
            wait_midway(pb, job, cut)
            stored, sealed = stored_items(pb), blobs(pb)
            pg_cluster.crash()
            chaos.note(f"database crashed with {stored} item rows and {sealed} blobs stored")
            # The client goes on sending: the server meets the dead database mid-request.
            try:
                sock.sendall(whole[len(head):])
            except (BrokenPipeError, ConnectionResetError):
                pass
            seen.in_flight = read_answer(sock)  # within the socket timeout, never a hang
        assert 0 < max(stored, sealed) and stored < n, (stored, sealed)
        # During the outage: readiness says so, and a fresh request is a clear 5xx problem.
        seen.outage_ready = httpx.get(server.url + "/readyz", timeout=30).status_code
        fresh = httpx.get(f"{server.url}/api/v1/batches/{batch_id}", timeout=30,
                          headers={"Authorization": f"Bearer {token}"})
        seen.outage_fresh = fresh.status_code
        seen.outage_fresh_type = fresh.json().get("type") if fresh.headers.get(
            "content-type", "").startswith("application/problem+json") else fresh.text[:200]

        pg_cluster.restart()

        def ready_and_serving() -> bool:
            try:
                ready = httpx.get(server.url + "/readyz", timeout=5).status_code == 200
                status = httpx.get(f"{server.url}/api/v1/batches/{batch_id}", timeout=5,
                                   headers={"Authorization": f"Bearer {token}"}).status_code
            except httpx.TransportError:
                return False
            return ready and status == 200

        seen.reconnect_s = wait_for(ready_and_serving, RECONNECT_S,
                                    "readiness and a fresh request after the restart", 0.2)
        assert rerun(server, token, job) == batch_id
        server.stop()
        assert_exactly_once(pb, job, batch_id, invariants,
                            f"(database crashed after {stored} items)")
    finally:
        print(f"F6 PostgreSQL outcome: {seen}")
        server.stop()
        pb.close()

    # What the in-flight request and a fresh request saw while the database was down: a
    # problem that says so (never a hang, never an HTML page or a traceback). That it is a
    # 503 with Retry-After is test_f6_database_down_is_a_retryable_503_problem's concern.
    assert seen.outage_ready == 503
    assert seen.outage_fresh is not None and 500 <= seen.outage_fresh < 600, seen
    assert seen.in_flight is not None, "the in-flight request got no answer at all"
    status, headers, body = seen.in_flight
    assert 500 <= status < 600 and headers["content-type"].startswith(
        "application/problem+json"), (status, body[:500])
    problem = json.loads(body)
    assert "database is unavailable" in problem["detail"] and "Traceback" not in problem[
        "detail"], problem
    assert seen.reconnect_s is not None and seen.reconnect_s <= RECONNECT_S


def test_f6_database_down_is_a_retryable_503_problem(tmp_path: Path) -> None:
    """While the database is unreachable an API client is told to retry: 503, a stable
    problem type of its own and Retry-After, as for a storage outage. (The database here is a
    PostgreSQL URL on a port where nothing listens: the same error as a crashed cluster.)"""
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/postbox"
    settings = cheap_settings(tmp_path / "instance", POSTBOX_DATABASE_URL=url)
    create_key_files(settings)
    pb = build(settings, engine=make_engine(url, connect_args={"connect_timeout": 2}))
    try:
        client = create_app(pb, {"TESTING": True}).test_client()
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "database" in ready.get_json()["checks"]
        answer = client.get("/api/v1/batches/" + "0" * 32,
                            headers={"Authorization": "Bearer pbx_" + "a" * 43})
        assert answer.mimetype == "application/problem+json"
        assert answer.status_code == 503, answer.get_json()
        assert answer.get_json()["type"] == "urn:postbox:problem:database-unavailable"
        assert 1 <= int(answer.headers["Retry-After"]) <= 120
    finally:
        pb.close()
