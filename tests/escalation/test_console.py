"""The print queue in the organisation console: who sees it, the list, the checked print PDF,
mark printed and dismiss, with real staff logins through the web."""
from __future__ import annotations

import contextlib
import io

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from postbox import delivery, orgs, print_queue
from postbox.errors import Conflict
from postbox.models import Document, Evidence
from tests.fixtures.postbox import pdf_bytes
from tests.notices.conftest import events, evidence_rows
from tests.org.conftest import admin, app, client, officer, sender  # noqa: F401 - fixtures
from tests.org.helpers import csrf_token, login, make_staff, post

from .conftest import invite, print_rows

LETTER = pdf_bytes("Dear customer, please pay", pages=2)
PAGE = "/org/print-queue"


def _queue(pb, org: str, external_id: str, key: str | None, content: bytes = LETTER) -> str:  # type: ignore[no-untyped-def]
    """A delivered letter put in the print queue the way the escalation's print step does."""
    with contextlib.suppress(Conflict):  # invited already
        invite(pb, org, external_id, f"{external_id.lower()}@example.org")
    doc_id = delivery.deliver(pb, org, external_id, io.BytesIO(content), "Invoice 7",
                              "invoice.pdf", idempotency_key=key).document_id
    with pb.uow() as uow:
        doc = uow.session.get(Document, doc_id)
        assert print_queue.enqueue(uow.session, pb.keys, doc, 14, pb.clock.now())
        uow.commit()
    return next(e.id for e in print_queue.list_entries(pb, org) if e.document_id == doc_id)


def _snapshot(pb) -> tuple[int, list[tuple[object, ...]]]:  # type: ignore[no-untyped-def]
    """The number of evidences and every queue row's state: what an action could change."""
    with pb.uow() as uow:
        count = uow.session.scalar(select(func.count()).select_from(Evidence))
    return count, [(r.id, r.state, r.printed_at, r.printed_by, r.printed_sha256)
                   for r in print_rows(pb)]


def _pdf(client, entry: str, content: bytes = LETTER, subject: str = "Invoice 7",  # type: ignore[no-untyped-def]  # noqa: F811
         filename: str = "", **extra: str):
    return post(client, f"{PAGE}/pdf", {
        "entry": entry, "subject": subject, "filename": filename,
        "postal_address": "Alice Example\nMain Street 1", **extra,
        "file": (io.BytesIO(content), "invoice.pdf")},
        token_from=PAGE, content_type="multipart/form-data")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_who_sees_the_print_queue(app, pb, org, admin, sender, officer) -> None:  # noqa: F811
    entry = _queue(pb, org, "C-1", "inv-1")
    anonymous = app.test_client()
    response = anonymous.get(PAGE)
    assert response.status_code == 302 and "/org/login" in response.headers["Location"]
    for person in (admin, sender):
        c = app.test_client()
        assert login(c, person).status_code == 302
        page = c.get(PAGE)
        assert page.status_code == 200 and f'href="{PAGE}"' in page.get_data(as_text=True)
        assert entry in page.get_data(as_text=True)
    c = app.test_client()
    assert login(c, officer).status_code == 302
    token = csrf_token(c, "/org/dashboard")
    assert f'href="{PAGE}"' not in c.get("/org/dashboard").get_data(as_text=True)
    assert c.get(PAGE).status_code == 403
    assert c.get(f"{PAGE}/dismiss?entry={entry}").status_code == 403
    for path in ("/pdf", "/printed", "/dismiss"):
        assert c.post(PAGE + path, data={"csrf_token": token, "entry": entry,
                                         "confirm": "yes", "reason": "x"}).status_code == 403
    assert print_queue.get_entry(pb, org, entry).state == "queued"

    # Another organisation's sender cannot see or touch this entry.
    orgs.create_org(pb, "Other Bank", "other")
    stranger = make_staff(pb, admin.clock, "other", "sol@other.example", "sender")
    c = app.test_client()
    assert login(c, stranger).status_code == 302
    assert entry not in c.get(PAGE).get_data(as_text=True)
    response = post(c, f"{PAGE}/printed", {"entry": entry}, token_from=PAGE)
    assert response.status_code == 404 and "not in your print queue" in response.get_data(
        as_text=True)
    assert c.get(f"{PAGE}/dismiss?entry={entry}").status_code == 404
    assert print_queue.get_entry(pb, org, entry).state == "queued"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_empty_state_then_the_list(pb, clock, org, client, sender) -> None:  # noqa: F811
    login(client, sender)
    empty = client.get(PAGE).get_data(as_text=True)
    assert "No letter is waiting to be printed." in empty and "postbox policy set" in empty
    keyed = _queue(pb, org, "C-1", "inv-1")
    clock.advance(minutes=5)
    unkeyed = _queue(pb, org, "C-2", None, pdf_bytes("another"))
    html = client.get(PAGE).get_data(as_text=True)
    assert "No letter is waiting" not in html
    assert html.index(f'id="entry-{keyed}"') < html.index(f'id="entry-{unkeyed}"')  # oldest first
    keyed_row = html[html.index(f'id="entry-{keyed}"'):html.index(f'id="entry-{unkeyed}"')]
    unkeyed_row = html[html.index(f'id="entry-{unkeyed}"'):]
    assert "C-1" in keyed_row and "Day 14" in keyed_row and "Unread" in keyed_row
    assert 'name="file"' in keyed_row and "Not printable here" not in keyed_row
    assert "C-2" in unkeyed_row and "Not printable here" in unkeyed_row
    assert 'name="file"' not in unkeyed_row


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_print_pdf_download_and_a_mismatching_copy(pb, org, client, sender) -> None:  # noqa: F811
    entry = _queue(pb, org, "C-1", "inv-1")
    unkeyed = _queue(pb, org, "C-2", None, pdf_bytes("another"))
    login(client, sender)
    response = _pdf(client, entry)
    body = response.get_data()
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/pdf" and body.startswith(b"%PDF")
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["Cache-Control"] == "no-store"
    pages = PdfReader(io.BytesIO(body)).pages
    assert len(pages) == 3  # the cover, then the two pages of the letter
    assert "Alice Example" in pages[0].extract_text()
    assert "please pay" in pages[1].extract_text()

    before = _snapshot(pb)
    for bad in (_pdf(client, entry, pdf_bytes("forged", pages=2)),
                _pdf(client, entry, subject="Invoice 8"),
                _pdf(client, entry, filename="other.pdf")):
        text = bad.get_data(as_text=True)
        assert bad.status_code == 409 and bad.mimetype == "text/html"
        assert "This copy does not match the letter that was delivered" in text
        assert "Nothing was changed" in text
    no_fingerprint = _pdf(client, unkeyed)
    assert no_fingerprint.status_code == 409
    assert "without an Idempotency-Key" in no_fingerprint.get_data(as_text=True)
    not_pdf = _pdf(client, entry, b"plain text")
    assert not_pdf.status_code == 409  # the fingerprint check comes first
    missing = post(client, f"{PAGE}/pdf", {"entry": entry, "subject": "Invoice 7"},
                   token_from=PAGE)
    assert missing.status_code == 400 and "Choose the PDF" in missing.get_data(as_text=True)
    assert _snapshot(pb) == before
    assert {e.state for e in print_queue.list_entries(pb, org, None)} == {"queued"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_csrf_is_required_on_every_post(pb, org, client, sender) -> None:  # noqa: F811
    entry = _queue(pb, org, "C-1", "inv-1")
    login(client, sender)
    for path, data in (("/printed", {"entry": entry}),
                       ("/dismiss", {"entry": entry, "confirm": "yes", "reason": "gone"}),
                       ("/pdf", {"entry": entry, "subject": "Invoice 7",
                                 "file": (io.BytesIO(LETTER), "invoice.pdf")})):
        response = client.post(PAGE + path, data=data)
        assert response.status_code == 400, path
        assert "did not come from this site" in response.get_data(as_text=True)
    assert print_queue.get_entry(pb, org, entry).state == "queued"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_mark_printed_and_dismiss(pb, org, client, sender) -> None:  # noqa: F811
    printed = _queue(pb, org, "C-1", "inv-1")
    dismissed = _queue(pb, org, "C-2", "inv-2", pdf_bytes("another"))
    login(client, sender)
    response = post(client, f"{PAGE}/printed", {"entry": printed}, token_from=PAGE)
    assert response.status_code == 302
    entry = print_queue.get_entry(pb, org, printed)
    assert (entry.state, entry.printed_by) == ("printed", sender.email)
    assert entry.printed_at is not None
    page = client.get(PAGE).get_data(as_text=True)
    assert "is marked printed" in page and f'id="entry-{printed}"' not in page
    again = post(client, f"{PAGE}/dismiss", {"entry": printed, "confirm": "yes",
                                             "reason": "late"}, token_from=PAGE)
    assert again.status_code == 409 and "already marked printed" in again.get_data(as_text=True)

    confirm = client.get(f"{PAGE}/dismiss?entry={dismissed}")
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "This cannot be undone" in text
    assert 'name="confirm" value="yes"' in text and 'name="reason"' in text
    unconfirmed = post(client, f"{PAGE}/dismiss", {"entry": dismissed, "reason": "gone"},
                       token_from=PAGE)
    assert unconfirmed.status_code == 400
    no_reason = post(client, f"{PAGE}/dismiss", {"entry": dismissed, "confirm": "yes",
                                                 "reason": " "}, token_from=PAGE)
    assert no_reason.status_code == 400
    assert "Give a reason" in no_reason.get_data(as_text=True)
    assert print_queue.get_entry(pb, org, dismissed).state == "queued"
    assert "notice_failed" not in events(pb, print_queue.get_entry(pb, org, dismissed)
                                         .document_id)

    done = post(client, f"{PAGE}/dismiss", {"entry": dismissed, "confirm": "yes",
                                            "reason": "no postal address"}, token_from=PAGE)
    assert done.status_code == 302
    entry = print_queue.get_entry(pb, org, dismissed)
    assert (entry.state, entry.printed_by) == ("dismissed", sender.email)
    assert events(pb, entry.document_id)[-1] == "notice_failed"
    [failed] = [e for e in evidence_rows(pb, "notice_failed")
                if e.document_id == entry.document_id]
    assert b'"channel":"paper"' in failed.body and b'"reason":"no postal address"' in failed.body
    assert sender.email.encode() in failed.body
    page = client.get(PAGE).get_data(as_text=True)
    assert "taken off the print queue" in page and "No letter is waiting" in page
    gone = _pdf(client, dismissed)
    assert gone.status_code == 409 and "already dismissed" in gone.get_data(as_text=True)
