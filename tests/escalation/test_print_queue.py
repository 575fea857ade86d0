"""The print queue: entries at the print step, the checked cover + copy PDF, done/dismiss."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from pypdf import PdfReader

from postbox import delivery, print_queue
from postbox.errors import Conflict, InvalidInput, NotFound
from tests.fixtures.postbox import pdf_bytes
from tests.notices.conftest import events, evidence_rows

from .conftest import invite, print_rows, standard_policy

LETTER = pdf_bytes("Dear customer, please pay", pages=2)


def _deliver(pb, org: str, key: str | None, content: bytes = LETTER, **kw) -> str:  # type: ignore[no-untyped-def]
    return delivery.deliver(pb, org, "C-1", io.BytesIO(content), "Invoice 7", "invoice.pdf",
                            idempotency_key=key, **kw).document_id


def _to_print_step(clock, worker) -> None:  # type: ignore[no-untyped-def]
    worker.drain()
    for _ in range(14):
        clock.advance(days=1)
        worker.drain()


def test_print_step_queues_with_evidence_and_pdf_checks_the_copy(
        pb, clock, org, smtp_worker) -> None:
    standard_policy(pb, org)
    invite(pb, org, "C-1", "alice@example.org")
    doc = _deliver(pb, org, "inv-7", case="2026/7")
    unkeyed = _deliver(pb, org, None, pdf_bytes("another letter"))
    _to_print_step(clock, smtp_worker)
    assert {r.document_id for r in print_rows(pb)} == {doc, unkeyed}
    [fallback] = [e for e in evidence_rows(pb, "print_fallback") if e.document_id == doc]
    assert b'"step_day":14' in fallback.body and b'"copy":"sender-archive"' in fallback.body
    entries = {e.document_id: e for e in print_queue.list_entries(pb, org)}
    entry = entries[doc]
    assert (entry.recipient, entry.printable, entries[unkeyed].printable) == ("C-1", True, False)

    out = print_queue.print_pdf(pb, org, entry.id, io.BytesIO(LETTER), "Invoice 7",
                                "invoice.pdf", "Alice Example\nMain Street 1\n12345 Town")
    pages = PdfReader(out).pages
    assert len(pages) == 3
    cover = pages[0].extract_text()
    assert "Alice Example" in cover and doc in cover and "still unopened" in cover
    assert "please pay" in pages[1].extract_text()
    with pytest.raises(Conflict, match="not the document"):
        print_queue.print_pdf(pb, org, entry.id, io.BytesIO(pdf_bytes("forged")), "Invoice 7",
                              "invoice.pdf")
    with pytest.raises(Conflict, match="not the document"):
        print_queue.print_pdf(pb, org, entry.id, io.BytesIO(LETTER), "Invoice 8", "invoice.pdf")
    with pytest.raises(Conflict, match="no fingerprint"):
        print_queue.print_pdf(pb, org, entries[unkeyed].id, io.BytesIO(LETTER), "Invoice 7",
                              "invoice.pdf")
    with pytest.raises(InvalidInput):
        print_queue.print_pdf(pb, org, entry.id, io.BytesIO(LETTER), "Invoice 7",
                              "invoice.pdf", "\n".join("x" * 7))

    printed = print_queue.mark_printed(pb, org, entry.id, "clerk@acme.example")
    assert printed.state == "printed" and printed.printed_by == "clerk@acme.example"
    assert print_queue.mark_printed(pb, org, entry.id, "someone").printed_by == \
        "clerk@acme.example"  # idempotent
    dismissed = print_queue.dismiss(pb, org, entries[unkeyed].id, "clerk", "no postal address")
    assert dismissed.state == "dismissed"
    assert events(pb, unkeyed)[-2:] == ["print_fallback", "notice_failed"]
    with pytest.raises(Conflict):
        print_queue.mark_printed(pb, org, dismissed.id, "clerk")
    assert print_queue.list_entries(pb, org) == []
    assert len(print_queue.list_entries(pb, org, None)) == 2


def test_other_organisations_entries_are_not_found(pb, clock, org, smtp_worker) -> None:
    from postbox import orgs

    standard_policy(pb, org)
    invite(pb, org, "C-1", "alice@example.org")
    _deliver(pb, org, "k")
    _to_print_step(clock, smtp_worker)
    [entry] = print_queue.list_entries(pb, org)
    other = orgs.create_org(pb, "Other", "other").slug
    assert print_queue.list_entries(pb, other) == []
    with pytest.raises(NotFound):
        print_queue.get_entry(pb, other, entry.id)
    with pytest.raises(NotFound):
        print_queue.print_pdf(pb, other, entry.id, io.BytesIO(LETTER), "Invoice 7",
                              "invoice.pdf")
    with pytest.raises(InvalidInput):
        print_queue.list_entries(pb, org, "bogus")
    assert entry.created_at == entry.consigned_at + timedelta(days=14)
