"""The holds queue: oldest first; replies readable with the organisation key for the session
only; release and cancel after a confirmation page, named in the evidence."""
from __future__ import annotations

import io
import json
import re

import pytest
from sqlalchemy import select

from postbox import auth, cases, orgs, replies
from postbox.models import Document, Evidence, StaffSession
from tests.fixtures.postbox import pdf_bytes
from tests.org.helpers import csrf_token, deliver, login
from tests.web.helpers import PIN, activate_person

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _key_file(pb, org: str, private: bytes) -> bytes:
    view = orgs.get_org(pb, org)
    return json.dumps({"format": "postbox-org-key/1", "org_id": view.id, "org": view.slug,
                       "x25519_private": private.hex()}).encode()


def _held_cases(pb, clock, org) -> tuple[bytes, str]:
    """Two cases on hold (B first, then A), A with a reply; A has 2 held automated letters."""
    private = replies.init_org_keys(pb, org)
    person = activate_person(pb, clock, org, "CUST-1", "alice@example.org")
    deliver(pb, org, "CUST-1", "About B", case="CASE-B")
    cases.hold(pb, org, "CASE-B", "phone call")
    clock.advance(minutes=5)
    first = deliver(pb, org, "CUST-1", "About A", case="CASE-A")
    vault = auth.unlock(pb, auth.authenticate(pb, person.email, PIN, person.otp()).token)
    replies.reply(pb, vault, first, "I have already paid this. See attached.",
                  [("receipt.pdf", pdf_bytes("receipt"))], dispute=True)
    held = [deliver(pb, org, "CUST-1", f"Reminder {n}", case="CASE-A", automated=True)
            for n in (1, 2)]
    return private, held[0]


def test_queue_oldest_first_and_replies_need_the_key(client, pb, clock, org, sender) -> None:
    private, _ = _held_cases(pb, clock, org)
    login(client, sender)
    html = client.get("/org/holds").get_data(as_text=True)
    assert html.index("CASE-B") < html.index("CASE-A")
    assert "postbox replies pull" in html and "already paid" not in html
    token = csrf_token(client, "/org/holds")
    loaded = client.post("/org/holds/key", data={
        "csrf_token": token, "key": (io.BytesIO(_key_file(pb, org, private)), "org.key")},
        content_type="multipart/form-data")
    assert loaded.status_code == 302
    html = client.get("/org/holds").get_data(as_text=True)
    assert "I have already paid this. See attached." in html and "receipt.pdf" in html
    assert "Dispute" in html
    with pb.uow() as uow:  # the server kept nothing that is the key
        for row in uow.session.scalars(select(StaffSession)):
            assert private not in row.cookie_key
    client.post("/org/holds/key/forget", data={"csrf_token": token})
    assert "already paid" not in client.get("/org/holds").get_data(as_text=True)


def test_key_ends_with_the_session(client, pb, clock, org, sender) -> None:
    private, _ = _held_cases(pb, clock, org)
    login(client, sender)
    token = csrf_token(client, "/org/holds")
    client.post("/org/holds/key", data={"csrf_token": token, "key": (
        io.BytesIO(_key_file(pb, org, private)), "org.key")}, content_type="multipart/form-data")
    with client.session_transaction() as browser:
        kept = dict(browser)
    client.post("/org/logout", data={"csrf_token": token})
    login(client, sender)
    with client.session_transaction() as browser:
        browser["org_key"] = kept["org_key"]  # an old cookie replayed into a new session
    assert "already paid" not in client.get("/org/holds").get_data(as_text=True)


def test_wrong_key_files_are_refused_plainly(client, pb, clock, org, sender) -> None:
    _held_cases(pb, clock, org)
    login(client, sender)
    token = csrf_token(client, "/org/holds")
    for data, text in [(b"hello", "not an organisation key file"),
                       (_key_file(pb, org, bytes(range(32))), "current reply key")]:
        response = client.post("/org/holds/key", data={"csrf_token": token, "key": (
            io.BytesIO(data), "org.key")}, content_type="multipart/form-data")
        assert response.status_code == 400 and text in response.get_data(as_text=True)


def test_release_after_confirmation(client, pb, clock, org, sender) -> None:
    _, held = _held_cases(pb, clock, org)
    login(client, sender)
    confirm = client.get("/org/holds/release?case=CASE-A")
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "Held letters to deliver now: 2" in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    unconfirmed = client.post("/org/holds/release", data={"csrf_token": token, "case": "CASE-A"})
    assert unconfirmed.status_code == 400
    done = client.post("/org/holds/release", data={"csrf_token": token, "case": "CASE-A",
                                                   "confirm": "yes"})
    assert done.status_code == 302
    assert "Letters delivered: 2" in client.get("/org/holds").get_data(as_text=True)
    with pb.uow() as uow:
        assert uow.session.get(Document, held).status == "consigned"
        body = uow.session.scalar(select(Evidence.body).where(
            Evidence.document_id == held, Evidence.event == "released"))
    assert json.loads(body)["details"]["by"] == sender.email
    assert [h.reference for h in cases.holds_queue(pb, org)] == ["CASE-B"]
    assert client.get("/org/holds/release?case=CASE-A").status_code == 404


def test_cancel_after_confirmation(client, pb, clock, org, sender) -> None:
    _, held = _held_cases(pb, clock, org)
    login(client, sender)
    html = client.get("/org/holds/cancel?case=CASE-A").get_data(as_text=True)
    assert "Held letters to discard: 2" in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    client.post("/org/holds/cancel", data={"csrf_token": token, "case": "CASE-A",
                                           "confirm": "yes"})
    with pb.uow() as uow:
        assert uow.session.get(Document, held).status == "cancelled"
    assert "CASE-A" in [h.reference for h in cases.holds_queue(pb, org)]  # still on hold
    assert client.get("/org/holds/unknown?case=CASE-A").status_code == 404
