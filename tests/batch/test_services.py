"""Batch services on SQLite and PostgreSQL: items, idempotency, close, cancel, holds, print."""
from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from postbox import (
    batch_items,
    batch_settle,
    batches,
    cases,
    orgs,
    printing,
    recipients,
)
from postbox.batch_items import ItemInput
from postbox.errors import Conflict, InvalidInput, NotFound
from postbox.models import Batch, Document, Evidence, Outbox
from tests.fixtures.postbox import pdf_bytes
from tests.web.helpers import activate_person


@pytest.fixture
def org(pb) -> str:  # type: ignore[no-untyped-def]
    return orgs.create_org(pb, "Acme Bank", "acme").id


@pytest.fixture
def alice(pb, clock, org):  # type: ignore[no-untyped-def]
    return activate_person(pb, clock, "acme", "C-1", "alice@example.org")


def add(pb, org: str, batch: str, key: str, content: bytes | None = None,  # type: ignore[no-untyped-def]
        recipient: str = "C-1", **kw):
    item = ItemInput(key=key, recipient=recipient, subject=kw.pop("subject", "Letter"),
                     filename="letter.pdf", **kw)
    return batch_items.add_item(pb, org, batch, item,
                                io.BytesIO(pdf_bytes(key) if content is None else content))


def events(pb, event: str) -> int:  # type: ignore[no-untyped-def]
    with pb.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(Evidence)
                                      .where(Evidence.event == event)) or 0)


def test_items_are_invisible_until_close_then_consigned_once(pb, org, alice) -> None:
    batch = batches.create_batch(pb, org, reference="Nov")
    results = [add(pb, org, batch.id, f"k{i}") for i in range(5)]
    assert [r.seq for r in results] == [1, 2, 3, 4, 5]
    assert {r.status for r in results} == {"accepted"}
    assert events(pb, "submission_accepted") == 5 and events(pb, "consigned") == 0
    with pb.uow() as uow:
        assert set(uow.session.scalars(select(Document.status))) == {"accepted"}
    view = batches.close_batch(pb, org, batch.id)
    assert view.state == "closed" and view.pending == 5
    assert batch_settle.settle(pb, batch.id, max_items=2) is False
    assert batches.get_batch(pb, org, batch.id).counts == {"consigned": 2, "accepted": 3}
    assert batch_settle.settle(pb, batch.id) is True
    assert batch_settle.settle(pb, batch.id) is True  # again: nothing moves twice
    view = batches.get_batch(pb, org, batch.id)
    assert view.state == "delivered" and view.counts == {"consigned": 5}
    assert events(pb, "consigned") == 5
    with pb.uow() as uow:
        notices = uow.session.scalar(select(func.count()).select_from(Outbox)
                                     .where(Outbox.kind == "notice"))
        jobs = uow.session.scalar(select(func.count()).select_from(Outbox)
                                  .where(Outbox.kind == batches.SETTLE_JOB))
    assert notices == 5 and jobs == 1


def test_item_keys_replay_conflict_and_rejected_items_can_be_fixed(pb, org, alice) -> None:
    batch = batches.create_batch(pb, org)
    one = pdf_bytes("one")  # reportlab stamps each PDF: make it once
    first = add(pb, org, batch.id, "a", one)
    again = add(pb, org, batch.id, "a", one)
    assert again.replayed and again.document_id == first.document_id and again.seq == first.seq
    with pytest.raises(Conflict):
        add(pb, org, batch.id, "a", pdf_bytes("two"))
    with pytest.raises(Conflict):
        add(pb, org, batch.id, "a", one, subject="Other")
    bad = add(pb, org, batch.id, "b", b"plain text")
    assert bad.status == "rejected" and "PDF" in (bad.reason or "")
    empty = add(pb, org, batch.id, "c", b"")
    assert empty.status == "rejected" and "empty" in (empty.reason or "")
    fixed = add(pb, org, batch.id, "b", pdf_bytes("fixed"))
    assert fixed.status == "accepted" and fixed.seq == bad.seq
    with pytest.raises(InvalidInput):
        add(pb, org, batch.id, "bad key with spaces")
    assert batches.get_batch(pb, org, batch.id).item_count == 3


def test_unreachable_items_keep_no_content_and_print_only_the_same_document(pb, org,
                                                                          alice) -> None:
    batch = batches.create_batch(pb, org)
    recipients.invite_recipient(pb, "acme", "INV-1", "inv@example.org")
    paper = pdf_bytes("paper copy", pages=2)
    item = add(pb, org, batch.id, "p", paper, recipient="NOBODY")
    assert item.status == "unreachable" and item.document_id is None
    assert add(pb, org, batch.id, "i", recipient="INV-1").status == "accepted"  # invited: ok
    with pb.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Document)) == 1
    with pytest.raises(Conflict):
        printing.print_item(pb, org, batch.id, item.seq, io.BytesIO(pdf_bytes("other")))
    with pytest.raises(Conflict):
        printing.print_item(pb, org, batch.id, 2, io.BytesIO(paper))  # not unreachable
    with pytest.raises(InvalidInput):
        printing.print_item(pb, org, batch.id, item.seq, io.BytesIO(paper), "1\n2\n3\n4\n5\n6\n7")
    out = printing.print_item(pb, org, batch.id, item.seq, io.BytesIO(paper),
                              "Jane Doe\nMain Street 1")
    reader = PdfReader(out)
    assert len(reader.pages) == 3 and "Jane Doe" in reader.pages[0].extract_text()


def test_batches_can_treat_invited_recipients_as_unreachable(pb, org) -> None:
    recipients.invite_recipient(pb, "acme", "INV-1", "inv@example.org")
    batch = batches.create_batch(pb, org, deliver_to_invited=False)
    assert add(pb, org, batch.id, "x", recipient="INV-1").status == "unreachable"


def test_cancel_stops_delivery_midway(pb, org, alice) -> None:
    batch = batches.create_batch(pb, org)
    for i in range(6):
        add(pb, org, batch.id, f"k{i}")
    add(pb, org, batch.id, "u", recipient="NOBODY")
    batches.close_batch(pb, org, batch.id)
    batch_settle.settle(pb, batch.id, max_items=2)  # two consigned before the cancel
    view = batches.cancel_batch(pb, org, batch.id)
    assert view.state == "cancelled"
    assert batch_settle.settle(pb, batch.id) is True
    counts = batches.get_batch(pb, org, batch.id).counts
    assert counts == {"consigned": 2, "cancelled": 5}
    assert events(pb, "consigned") == 2 and events(pb, "cancelled") == 4
    with pb.uow() as uow:
        gone = uow.session.execute(select(Document.blob_key, Document.sealed_key)
                                   .where(Document.status == "cancelled")).all()
    assert len(gone) == 4 and all(not pb.store.exists(key) for key, _ in gone)
    assert all(sealed == b"" for _, sealed in gone)
    with pytest.raises(Conflict):
        batches.close_batch(pb, org, batch.id)
    with pytest.raises(batches.BatchNotOpen):
        add(pb, org, batch.id, "late")


def test_close_and_cancel_are_idempotent_and_delivered_cannot_be_cancelled(pb, org,
                                                                           alice) -> None:
    batch = batches.create_batch(pb, org)
    add(pb, org, batch.id, "a")
    batches.close_batch(pb, org, batch.id)
    batches.close_batch(pb, org, batch.id)
    batch_settle.run_job(pb, {"batch_id": batch.id})
    assert batches.close_batch(pb, org, batch.id).state == "delivered"
    with pytest.raises(Conflict):
        batches.cancel_batch(pb, org, batch.id)
    other = batches.create_batch(pb, org)
    assert batches.cancel_batch(pb, org, other.id).state == "cancelled"
    assert batches.cancel_batch(pb, org, other.id).state == "cancelled"


def test_automated_items_in_a_held_case_are_held(pb, org, alice) -> None:
    batch = batches.create_batch(pb, org)
    add(pb, org, batch.id, "first", case="CASE-1", automated=True)
    add(pb, org, batch.id, "manual", case="CASE-1")
    cases.hold(pb, "acme", "CASE-1", "clerk@acme.example")
    batches.close_batch(pb, org, batch.id)
    batch_settle.settle(pb, batch.id)
    view = batches.get_batch(pb, org, batch.id)
    assert view.counts == {"held": 1, "consigned": 1}
    assert view.held_summary == "1 held for review in 1 case"  # waiting, not failed
    assert cases.release(pb, "acme", "CASE-1", "clerk@acme.example")
    view = batches.get_batch(pb, org, batch.id)
    assert view.counts == {"consigned": 2} and view.held_summary is None


def test_batch_limits_and_creation_idempotency(pb, org, alice) -> None:
    batch = batches.create_batch(pb, org, max_items=2)
    add(pb, org, batch.id, "a")
    add(pb, org, batch.id, "b", b"junk")  # rejected items count too
    with pytest.raises(batches.BatchFull):
        add(pb, org, batch.id, "c")
    one = batches.create_batch(pb, org, reference="R", idempotency_key="key-1")
    two = batches.create_batch(pb, org, reference="R", idempotency_key="key-1")
    assert two.id == one.id and two.replayed
    with pytest.raises(Conflict):
        batches.create_batch(pb, org, reference="S", idempotency_key="key-1")
    for bad in (0, batches.MAX_ITEMS + 1):
        with pytest.raises(InvalidInput):
            batches.create_batch(pb, org, max_items=bad)
    with pb.uow() as uow:
        assert uow.session.scalar(select(Batch.max_items).where(Batch.id == one.id)) == \
            batches.MAX_ITEMS


def test_listing_pages_report_and_other_organisations(pb, org, alice) -> None:
    batch = batches.create_batch(pb, org)
    for i in range(7):
        add(pb, org, batch.id, f"k{i}", client_ref=str(i + 2))
    page = batches.list_items(pb, org, batch.id, limit=3)
    assert [i.seq for i in page.items] == [1, 2, 3] and page.next_after == 3
    assert [i.client_ref for i in batches.report(pb, org, batch.id, chunk=2)] == [
        str(i + 2) for i in range(7)]
    assert batches.list_items(pb, org, batch.id, status="rejected").items == []
    stranger = orgs.create_org(pb, "Stranger").id
    for call in (lambda: batches.get_batch(pb, stranger, batch.id),
                 lambda: batches.close_batch(pb, stranger, batch.id),
                 lambda: add(pb, stranger, batch.id, "x")):
        with pytest.raises(NotFound):
            call()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_spreadsheet_safe_cells(pb) -> None:
    assert [batches.spreadsheet_safe(v) for v in ("=1+2", "+x", "-y", "@z", "\tq", "ok", None,
                                                  3)] == [
        "'=1+2", "'+x", "'-y", "'@z", "'\tq", "ok", "", "3"]


def test_settling_ends_on_an_exact_chunk_boundary(pb, org, alice, monkeypatch) -> None:
    monkeypatch.setattr(batch_settle, "CHUNK", 2)
    batch = batches.create_batch(pb, org)
    for i in range(4):
        add(pb, org, batch.id, f"k{i}")
    batches.close_batch(pb, org, batch.id)
    assert batch_settle.settle(pb, batch.id, max_items=2) is False
    assert batch_settle.settle(pb, batch.id, max_items=2) is True  # the last full chunk
    assert batches.get_batch(pb, org, batch.id).state == "delivered"


def test_the_worker_job_settles_a_closed_batch(pb, org, alice) -> None:
    from postbox import outbox
    from postbox.worker import Kind, Worker

    batch = batches.create_batch(pb, org)
    add(pb, org, batch.id, "a")
    batches.close_batch(pb, org, batch.id)  # enqueues the batch_settle job
    worker = Worker(pb, kinds={batches.SETTLE_JOB: Kind(batch_settle.handle_job)},
                    mailer=object())  # type: ignore[arg-type]
    try:
        assert worker.run_once() == 1
    finally:
        worker.close()
    assert batches.get_batch(pb, org, batch.id).state == "delivered"
    assert outbox.counts(pb)[(batches.SETTLE_JOB, "done")] == 1


def test_the_worker_settles_a_closed_batch_with_follow_ups(pb, org, alice) -> None:
    from postbox import reminders, webhooks
    from postbox.worker import Worker

    reminders.set_policy(pb, "acme", [3], [])
    webhooks.create_endpoint(pb, "acme", "https://hooks.acme.example/p", ["consigned"])
    batch = batches.create_batch(pb, org)
    for i in range(3):
        add(pb, org, batch.id, f"w{i}")
    batches.close_batch(pb, org, batch.id)
    worker = Worker(pb)
    try:
        worker.run_once()
    finally:
        worker.close()
    assert batches.get_batch(pb, org, batch.id).state == "delivered"
    with pb.uow() as uow:
        kinds = [k for k, in uow.session.execute(select(Outbox.kind))]
    assert kinds.count(reminders.KIND) == 3  # one reminder per consigned item
    assert kinds.count("webhook") >= 3  # "consigned" for each item
