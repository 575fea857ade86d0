"""The same idempotency key sent in parallel makes exactly one document (both databases)."""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from postbox.models import BatchItem, Document, Evidence
from tests.api.live import Live
from tests.fixtures.postbox import pdf_bytes
from tests.web.helpers import activate_person

pytestmark = pytest.mark.s3
PARALLEL = 8


def _count(live: Live, what) -> int:  # type: ignore[no-untyped-def]
    with live.pb.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(what)) or 0)


def _together(call):  # type: ignore[no-untyped-def]
    """Run ``call`` on PARALLEL threads released at the same moment."""
    start = threading.Barrier(PARALLEL)

    def run(_: int):  # type: ignore[no-untyped-def]
        start.wait()
        return call()

    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(run, range(PARALLEL)))


def test_same_document_key_in_parallel_makes_one_document(live: Live, clock) -> None:
    activate_person(live.pb, clock, "acme", "C-1", "c1@example.org")
    body = pdf_bytes("only once")
    files = [("metadata", (None, json.dumps({"recipient": "C-1", "subject": "Once"}).encode(),
                           "application/json")), ("file", ("a.pdf", body, "application/pdf"))]

    def send():  # type: ignore[no-untyped-def]
        with live.client() as api:
            return api.post("/documents", files=files, headers={"Idempotency-Key": "race-1"})

    answers = _together(send)
    assert {a.status_code for a in answers} <= {200, 201}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.status_code == 201 for a in answers) == 1
    assert _count(live, Document) == 1
    assert _count(live, Evidence) == 2  # submission_accepted + consigned, once


def test_same_item_key_in_parallel_makes_one_item(live: Live, clock) -> None:
    activate_person(live.pb, clock, "acme", "C-1", "c1@example.org")
    batch = live.client().post("/batches", json={}).json()
    files = [("item", (None, json.dumps({"key": "k", "recipient": "C-1", "subject": "S"})
                       .encode(), "application/json")),
             ("file", ("a.pdf", pdf_bytes("item"), "application/pdf"))]

    def send():  # type: ignore[no-untyped-def]
        with live.client() as api:
            return api.post(f"/batches/{batch['id']}/items", files=files).json()["items"][0]

    outcomes = _together(send)
    assert all(o["problem"] is None for o in outcomes), outcomes
    assert len({o["document_id"] for o in outcomes}) == 1
    assert sum(not o["replayed"] for o in outcomes) == 1
    assert _count(live, BatchItem) == 1 and _count(live, Document) == 1
