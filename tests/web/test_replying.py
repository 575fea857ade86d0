"""Replying in the portal: sealed for the sender, the case goes on hold, errors re-show the form."""
from __future__ import annotations

import io
import re

import pytest

from postbox import cases, replies
from tests.fixtures.postbox import pdf_bytes
from tests.web.helpers import csrf_token, login, send

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_reply_with_attachment_holds_the_case(client, pb, org, alice) -> None:
    key = replies.init_org_keys(pb, org)
    doc, _ = send(pb, org, alice, "Invoice 7", case="INV-7", automated=True)
    login(client, alice)
    page = client.get(f"/messages/{doc}").get_data(as_text=True)
    assert f"/messages/{doc}/reply" in page and "/cases/" in page
    form = client.get(f"/messages/{doc}/reply").get_data(as_text=True)
    assert 'name="text"' in form and 'name="attachments"' in form and 'name="dispute"' in form
    token = csrf_token(client, f"/messages/{doc}/reply")
    answer = client.post(f"/messages/{doc}/reply", data={
        "csrf_token": token, "text": "Paid by card.", "dispute": "yes",
        "attachments": (io.BytesIO(pdf_bytes("receipt")), "receipt.pdf")},
        content_type="multipart/form-data")
    assert answer.status_code == 302 and answer.headers["Location"] == f"/messages/{doc}"
    [held] = cases.holds_queue(pb, org)
    assert held.reference == "INV-7" and held.replies == 1
    [sealed] = replies.list_replies(pb, org)
    opened = replies.open_reply(replies.reply_blob(pb, org, sealed.reply_id), sealed.reply_id,
                                sealed.org_id, key)
    assert (opened.kind, opened.text) == ("dispute", "Paid by card.")
    assert opened.attachments[0][0] == "receipt.pdf"
    case_url = re.search(r'href="(/cases/[0-9a-f]{32})"', page).group(1)
    case_page = client.get(case_url)
    text = case_page.get_data(as_text=True)
    assert case_page.status_code == 200 and "INV-7" in text and "Invoice 7" in text
    assert "you disputed this letter" in text and "held until" in text


def test_reply_errors_and_refusals(client, pb, org, alice, bob) -> None:
    doc, _ = send(pb, org, alice, "Letter")
    login(client, alice)
    token = csrf_token(client, f"/messages/{doc}/reply")
    no_key = client.post(f"/messages/{doc}/reply", data={"csrf_token": token, "text": "hi"})
    assert no_key.status_code == 400
    assert "does not accept replies" in no_key.get_data(as_text=True)
    replies.init_org_keys(pb, org)
    fake = client.post(f"/messages/{doc}/reply", data={
        "csrf_token": token, "text": "x",
        "attachments": (io.BytesIO(b"<html>not a pdf</html>"), "x.pdf")},
        content_type="multipart/form-data")
    assert fake.status_code == 400 and "PDF, PNG or JPEG" in fake.get_data(as_text=True)
    assert client.post(f"/messages/{doc}/reply", data={"text": "no token"}).status_code == 400
    assert replies.list_replies(pb, org) == []
    client.post("/logout", data={"csrf_token": csrf_token(client, "/inbox")})
    login(client, bob)
    assert client.get(f"/messages/{doc}/reply").status_code == 404  # not Bob's
    token = csrf_token(client, "/inbox")
    assert client.post(f"/messages/{doc}/reply", data={"csrf_token": token,
                                                       "text": "x"}).status_code == 404
    assert client.get(f"/cases/{'0' * 32}").status_code == 404


def test_corrected_and_withdrawn_documents_show_banners(client, pb, org, alice) -> None:
    from postbox import corrections

    wrong, _ = send(pb, org, alice, "Invoice (wrong)")
    right, _ = send(pb, org, alice, "Invoice (corrected)")
    corrections.supersede(pb, org, wrong, right, "billing")
    corrections.retract(pb, org, right, "issued twice", "billing")
    login(client, alice)
    old = client.get(f"/messages/{wrong}").get_data(as_text=True)
    assert "replaced this document with a corrected version" in old
    assert f'href="/messages/{right}"' in old
    assert "has withdrawn this document" in client.get(f"/messages/{right}").get_data(
        as_text=True)
