"""Folders, one message, its content stream, and archive / delete / undo."""
from __future__ import annotations

import io
import re
from datetime import date
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from postbox import delivery
from postbox.models import Document, Evidence
from postbox.reading import DocumentUnreadable
from tests.web.helpers import login, post, send

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _retrievals(pb) -> int:
    with pb.uow() as uow:
        return len(list(uow.session.scalars(select(Evidence.id)
                                            .where(Evidence.event == "retrieved"))))


def test_inbox_lists_due_first_then_newest_unread_bold(client, pb, clock, org, alice) -> None:
    send(pb, org, alice, "Old letter")
    clock.advance(minutes=1)
    send(pb, org, alice, "Pay by December", due_date=date(2026, 12, 1))
    clock.advance(minutes=1)
    newest, _ = send(pb, org, alice, "Newest letter")
    login(client, alice)
    client.get(f"/messages/{newest}/content").get_data()  # read it
    html = client.get("/inbox").get_data(as_text=True)
    order = re.findall(r"(Pay by December|Newest letter|Old letter)", html)
    assert order == ["Pay by December", "Newest letter", "Old letter"]
    assert re.search(r'class="unread">.*?Acme Bank.*?<strong>Pay by December</strong>', html,
                     re.DOTALL)
    assert re.search(r'class="read">.*?Newest letter', html, re.DOTALL)
    assert "Dec 1, 2026" in html


def test_search_over_subjects_and_senders(client, pb, org, alice) -> None:
    send(pb, org, alice, "Electricity bill")
    send(pb, org, alice, "Water bill")
    login(client, alice)
    html = client.get("/inbox?q=electricity").get_data(as_text=True)
    assert "Electricity bill" in html and "Water bill" not in html
    assert 'value="electricity"' in html
    assert "Water bill" in client.get("/inbox?q=acme").get_data(as_text=True)
    none = client.get("/inbox?q=zzz").get_data(as_text=True)
    assert "No messages match" in none and "zzz" in none


def test_empty_states_say_what_will_appear(client, alice) -> None:
    login(client, alice)
    assert "will appear here" in client.get("/inbox").get_data(as_text=True)
    assert "Messages you archive will appear here" in client.get("/archive").get_data(
        as_text=True)
    assert "Messages you delete will appear here" in client.get("/deleted").get_data(
        as_text=True)


def test_pagination(app, pb, clock, org, alice) -> None:
    app.config["PORTAL_PER_PAGE"] = 2
    for n in range(5):
        send(pb, org, alice, f"Letter {n}")
        clock.advance(seconds=1)
    client = app.test_client()
    login(client, alice)
    first = client.get("/inbox").get_data(as_text=True)
    assert "Page 1 of 3" in first and 'href="/inbox?page=2"' in first
    last = client.get("/inbox?page=3").get_data(as_text=True)
    assert "Letter 0" in last and "Letter 4" not in last and 'rel="prev"' in last
    assert "no messages on this page" in client.get("/inbox?page=9").get_data(as_text=True)
    assert client.get("/inbox?page=abc").status_code == 200


def test_message_page_shows_metadata_and_embeds_content(client, pb, org, alice) -> None:
    doc, _ = send(pb, org, alice, "Annual statement", filename="statement-2026.pdf",
                  due_date=date(2026, 12, 31))
    login(client, alice)
    html = client.get(f"/messages/{doc}").get_data(as_text=True)
    assert "Annual statement" in html and "Acme Bank" in html and "statement-2026.pdf" in html
    assert "Dec 31, 2026" in html
    assert re.search(rf'<iframe[^>]+src="/messages/{doc}/content"[^>]+title=', html)
    assert f'href="/messages/{doc}/content?download=1"' in html
    for action in ("archive", "delete"):
        assert f'action="/messages/{doc}/{action}"' in html
    assert _retrievals(pb) == 0  # the page itself hands over nothing


def test_content_headers_and_bytes(client, pb, org, alice) -> None:
    doc, pdf = send(pb, org, alice, "Letter", filename="Bescheid über Steuern.pdf")
    login(client, alice)
    response = client.get(f"/messages/{doc}/content")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    csp = response.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox") and "frame-ancestors 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("inline; ")
    assert 'filename="Bescheid _ber Steuern.pdf"' in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "Bescheid über Steuern.pdf"
    assert "Content-Length" not in response.headers  # chunked: a cut stream cannot look whole
    assert response.get_data() == pdf
    assert _retrievals(pb) == 1
    download = client.get(f"/messages/{doc}/content?download=1")
    assert download.headers["Content-Disposition"].startswith("attachment; ")
    assert download.get_data() == pdf


def test_content_is_marked_read_and_recorded_once_per_retrieval(client, pb, org, alice) -> None:
    doc, _ = send(pb, org, alice, "Letter")
    login(client, alice)
    assert "<strong>Letter</strong>" in client.get("/inbox").get_data(as_text=True)
    client.get(f"/messages/{doc}/content").get_data()
    assert "<strong>Letter</strong>" not in client.get("/inbox").get_data(as_text=True)
    assert _retrievals(pb) == 1


def test_head_on_content_records_nothing(client, pb, org, alice) -> None:
    doc, _ = send(pb, org, alice, "Letter")
    login(client, alice)
    response = client.head(f"/messages/{doc}/content")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
    assert _retrievals(pb) == 0


def _tamper(pb, document_id: str) -> None:
    with pb.uow() as uow:
        key = uow.session.scalar(select(Document.blob_key).where(Document.id == document_id))
    with pb.store.open(key) as blob:
        data = blob.read()
    pb.store.put(key, io.BytesIO(data[:-5000]))  # drop the tail: the final chunk is gone


def test_unreadable_document_aborts_the_stream(client, pb, org, alice) -> None:
    big = b"%PDF-1.4\n" + bytes(range(256)) * 800  # about 200 KiB: several chunks
    receipt = delivery.deliver(pb, org, alice.external_id, io.BytesIO(big), "Big", "big.pdf")
    _tamper(pb, receipt.document_id)
    login(client, alice)
    response = client.get(f"/messages/{receipt.document_id}/content")
    assert response.status_code == 200  # headers were already on their way...
    with pytest.raises(DocumentUnreadable):
        response.get_data()  # ...but the body ends in an error, not a clean end
    assert _retrievals(pb) == 0


def test_archive_and_back(client, pb, org, alice) -> None:
    doc, _ = send(pb, org, alice, "File me")
    login(client, alice)
    response = post(client, f"/messages/{doc}/archive", token_from="/inbox")
    assert response.headers["Location"] == "/inbox"
    assert "File me" not in client.get("/inbox").get_data(as_text=True)
    assert "File me" in client.get("/archive").get_data(as_text=True)
    assert "Move to inbox" in client.get(f"/messages/{doc}").get_data(as_text=True)
    post(client, f"/messages/{doc}/unarchive", token_from="/inbox")
    assert "File me" in client.get("/inbox").get_data(as_text=True)


def test_delete_offers_undo_and_restore_for_30_days(client, pb, clock, org, alice) -> None:
    doc, _ = send(pb, org, alice, "Bin me")
    login(client, alice)
    post(client, f"/messages/{doc}/delete", token_from="/inbox")
    inbox = client.get("/inbox").get_data(as_text=True)
    assert "moved to Deleted" in inbox and f'action="/messages/{doc}/restore"' in inbox
    assert "Bin me" in client.get("/deleted").get_data(as_text=True)
    response = post(client, f"/messages/{doc}/restore", token_from="/inbox")
    assert response.headers["Location"] == f"/messages/{doc}"
    assert "Bin me" in client.get("/inbox").get_data(as_text=True)
    post(client, f"/messages/{doc}/delete", token_from="/inbox")
    clock.advance(days=31)
    login(client, alice)
    too_late = post(client, f"/messages/{doc}/restore", token_from="/inbox")
    assert too_late.status_code == 404
    assert "more than 30 days ago" in too_late.get_data(as_text=True)
