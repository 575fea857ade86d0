"""``print_queued``: a print step tells the sender's endpoint, in the queue entry's transaction."""
from __future__ import annotations

import io
import json

from postbox import delivery, print_queue, webhooks
from postbox.models import Document
from tests.fixtures.postbox import pdf_bytes
from tests.notices.conftest import allow_private, jobs, receiver  # noqa: F401 - fixtures

from .conftest import invite, print_rows, standard_policy


def test_a_print_step_reaches_a_subscribed_endpoint(pb, clock, org, allow_private,  # noqa: F811
                                                    receiver, smtp_worker) -> None:  # noqa: F811
    view, receiver.secret = webhooks.create_endpoint(pb, org, receiver.url, ["print_queued"])
    standard_policy(pb, org)
    invite(pb, org, "C-1", "alice@example.org")
    keyed = delivery.deliver(pb, org, "C-1", io.BytesIO(pdf_bytes("Invoice")), "Invoice 7",
                             "invoice.pdf", idempotency_key="inv-7").document_id
    smtp_worker.drain()
    for _ in range(14):
        clock.advance(days=1)
        smtp_worker.drain()
    [entry] = print_queue.list_entries(pb, org)
    assert entry.document_id == keyed
    # Only the subscribed event arrives (not the consigned / notified ones on the way).
    assert [d.payload["type"] for d in receiver.deliveries] == ["print_queued"]
    [got] = receiver.deliveries
    assert got.signature_ok and got.answered == 200
    assert got.payload["data"] == {
        "document_id": keyed, "recipient": "C-1", "entry_id": entry.id, "step_day": 14,
        "reason": "unread", "printable": True,
        "occurred_at": got.payload["data"]["occurred_at"]}
    assert webhooks.get_endpoint(pb, org, view.id).last_success_at is not None


def test_the_event_is_queued_with_the_entry_or_not_at_all(pb, clock, org, allow_private,  # noqa: F811
                                                          receiver) -> None:  # noqa: F811
    webhooks.create_endpoint(pb, org, receiver.url, ["print_queued"])
    invite(pb, org, "C-1", "alice@example.org")
    doc_id = delivery.deliver(pb, org, "C-1", io.BytesIO(pdf_bytes("x")), "Letter",
                              "letter.pdf").document_id
    with pb.uow() as uow:  # rolled back: neither the entry nor its event remain
        doc = uow.session.get(Document, doc_id)
        assert print_queue.enqueue(uow.session, pb.keys, doc, 14, clock.now())
    assert print_rows(pb) == [] and jobs(pb, "webhook") == []
    with pb.uow() as uow:
        doc = uow.session.get(Document, doc_id)
        assert print_queue.enqueue(uow.session, pb.keys, doc, 14, clock.now())
        assert not print_queue.enqueue(uow.session, pb.keys, doc, 14, clock.now())  # once
        uow.commit()
    [row] = print_rows(pb)
    [job] = jobs(pb, "webhook")
    payload = json.loads(job.payload)
    assert payload["type"] == "print_queued"
    assert (payload["data"]["entry_id"], payload["data"]["printable"]) == (row.id, False)
