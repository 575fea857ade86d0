"""The ingest fast path (postbox.ingest_items): many items of a request, few transactions, the
same outcomes item by item as batch_items.add_item alone; on SQLite and PostgreSQL."""
from __future__ import annotations

import hashlib
import io

import pytest
from sqlalchemy import select

from crypto.signing import verify_evidence
from postbox import (
    batch_items,
    batch_settle,
    batches,
    evidence,
    ingest_items,
    orgs,
    recipients,
)
from postbox.batch_items import ItemInput, ItemResult
from postbox.errors import Conflict, PostboxError
from postbox.ingest_items import ItemChunk
from postbox.models import BatchItem, Document, Evidence, PendingBlob
from tests.fixtures.postbox import pdf_bytes
from tests.web.helpers import activate_person

PDF = pdf_bytes("chunk")  # reportlab is slow: one document, many items


@pytest.fixture
def org(pb) -> str:  # type: ignore[no-untyped-def]
    return orgs.create_org(pb, "Acme Bank", "acme").id


@pytest.fixture
def alice(pb, clock, org):  # type: ignore[no-untyped-def]
    return activate_person(pb, clock, "acme", "C-1", "alice@example.org")


def item(key: str, recipient: str = "C-1") -> ItemInput:
    return ItemInput(key=key, recipient=recipient, subject=f"Letter {key}",
                     filename="letter.pdf")


def send(pb, org: str, batch: str,  # type: ignore[no-untyped-def]
         items: list[tuple[ItemInput, bytes]]) -> list[ItemResult | PostboxError]:
    """What the API view does with one request: each item through the chunk, then finish."""
    chunk = ItemChunk(pb, org, batch)
    now: dict[int, ItemResult | PostboxError] = {}
    for index, (it, content) in enumerate(items):
        chunk.at(index)
        try:
            result = batch_items.add_item(pb, org, batch, it, io.BytesIO(content), chunk)
        except PostboxError as exc:
            now[index] = exc
            continue
        if result is not None:
            now[index] = result
    later = chunk.finish()
    assert not set(now) & set(later)  # each item has exactly one outcome
    return [{**now, **later}[i] for i in range(len(items))]


def rows(pb, model):  # type: ignore[no-untyped-def]
    """Loaded rows, still readable after the session is gone."""
    with pb.session_factory() as session:
        return list(session.scalars(select(model)))


def test_a_request_is_numbered_in_order_signed_and_leaves_no_intent(pb, org, alice) -> None:
    batch = batches.create_batch(pb, org)
    # 70 items: more than one write (MAX_PENDING) and a partly used intent reservation.
    n = ingest_items.MAX_PENDING + 6
    assert n % ingest_items.RESERVE
    results = send(pb, org, batch.id, [(item(f"k{i}"), PDF) for i in range(n)])
    assert [(r.seq, r.key, r.status) for r in results] == [  # type: ignore[union-attr]
        (i + 1, f"k{i}", "accepted") for i in range(n)]
    assert rows(pb, PendingBlob) == []  # used and spare intents are gone
    docs = {d.id: d for d in rows(pb, Document)}
    assert len(docs) == n and {d.status for d in docs.values()} == {"accepted"}
    for d in docs.values():
        assert pb.store.exists(d.blob_key)
    records = rows(pb, Evidence)
    assert sorted(r.document_id for r in records) == sorted(docs)
    for r in records:
        verify_evidence(r.body, r.signature, pb.keys.evidence_key.public_key)
        assert r.prev_hash is None and r.event == "submission_accepted"
        assert r.record_hash == hashlib.sha256(r.body).hexdigest()
        assert docs[r.document_id].evidence_head == r.record_hash

    batches.close_batch(pb, org, batch.id)
    assert batch_settle.settle(pb, batch.id) is True
    with pb.uow() as uow:
        for doc_id in docs:
            chain = evidence.for_document(uow.session, doc_id)
            assert [e.event for e in chain] == ["submission_accepted", "consigned"]
            assert chain[1].prev_hash == chain[0].record_hash
            verify_evidence(chain[1].body, chain[1].signature,
                            pb.keys.evidence_key.public_key)
            assert uow.session.get(Document, doc_id).evidence_head == chain[1].record_hash


def test_mixed_outcomes_keep_request_order(pb, org, alice) -> None:
    recipients.invite_recipient(pb, "acme", "C-2", "bob@example.org")
    batch = batches.create_batch(pb, org, deliver_to_invited=False)
    results = send(pb, org, batch.id, [
        (item("a"), PDF), (item("b"), b"not a pdf"), (item("c", "C-2"), PDF),
        (item("d", "nobody"), PDF), (item("e"), PDF)])
    assert [(r.seq, r.status) for r in results] == [  # type: ignore[union-attr]
        (1, "accepted"), (2, "rejected"), (3, "unreachable"), (4, "unreachable"),
        (5, "accepted")]
    assert len(rows(pb, Document)) == 2 and rows(pb, PendingBlob) == []


def test_a_key_twice_in_one_request_is_a_replay_or_a_conflict(pb, org, alice) -> None:
    batch = batches.create_batch(pb, org)
    other = pdf_bytes("other")
    results = send(pb, org, batch.id, [(item("a"), PDF), (item("a"), PDF), (item("a"), other)])
    first, again, clash = results
    assert isinstance(first, ItemResult) and isinstance(again, ItemResult)
    assert again.replayed and again.document_id == first.document_id
    assert isinstance(clash, Conflict)
    assert len(rows(pb, Document)) == 1 and len(rows(pb, BatchItem)) == 1
    assert rows(pb, PendingBlob) == []
    assert list(pb.store.list("docs/")) == [rows(pb, Document)[0].blob_key]


def test_a_concurrent_twin_makes_the_chunk_write_items_one_by_one(pb, org, alice) -> None:
    batch = batches.create_batch(pb, org)
    chunk = ItemChunk(pb, org, batch.id)
    for index, key in enumerate(["x", "y"]):
        chunk.at(index)
        assert batch_items.add_item(pb, org, batch.id, item(key), io.BytesIO(PDF),
                                    chunk) is None
    # Another request sends "y" and commits first: the chunk's bulk insert must fail.
    twin = batch_items.add_item(pb, org, batch.id, item("y"), io.BytesIO(PDF))
    assert twin is not None and twin.seq == 1
    outcomes = chunk.finish()
    assert outcomes[0].status == "accepted" and outcomes[0].seq == 2  # type: ignore[union-attr]
    assert outcomes[1].replayed and outcomes[1].seq == 1  # type: ignore[union-attr]
    docs = rows(pb, Document)
    assert len(docs) == 2 and rows(pb, PendingBlob) == []
    assert sorted(pb.store.list("docs/")) == sorted(d.blob_key for d in docs)


def test_a_batch_that_fills_up_refuses_the_rest_item_by_item(pb, org, alice) -> None:
    batch = batches.create_batch(pb, org, max_items=3)
    results = send(pb, org, batch.id, [(item(f"k{i}"), PDF) for i in range(5)])
    assert [getattr(r, "status", None) for r in results[:3]] == ["accepted"] * 3
    assert all(isinstance(r, batches.BatchFull) for r in results[3:])
    assert len(rows(pb, Document)) == 3 and rows(pb, PendingBlob) == []
    assert len(list(pb.store.list("docs/"))) == 3  # the refused items' blobs are gone


def test_a_batch_closed_meanwhile_refuses_the_pending_items(pb, org, alice) -> None:
    batch = batches.create_batch(pb, org)
    chunk = ItemChunk(pb, org, batch.id)
    chunk.at(0)
    batch_items.add_item(pb, org, batch.id, item("late"), io.BytesIO(PDF), chunk)
    batches.close_batch(pb, org, batch.id)
    outcome = chunk.finish()[0]
    assert isinstance(outcome, batches.BatchNotOpen)
    assert rows(pb, Document) == [] and rows(pb, PendingBlob) == []
    assert list(pb.store.list("docs/")) == []
