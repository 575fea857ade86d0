"""Delegation routes through the Flask test client: bad input gets a page message, never a
500; another person's box is a 404; the settings page links to the delegation page."""
from __future__ import annotations

from datetime import timedelta

import pytest

from postbox import delegation
from tests.web.helpers import login, post
from web import create_app


@pytest.fixture
def client(pb):
    return create_app(pb, {"TESTING": True}).test_client()


def test_grant_form_errors_are_page_messages(pb, clock, org, owner, delegate, client) -> None:
    login(client, owner.person)
    assert b"/settings/delegation" in client.get("/settings").data
    page = "/settings/delegation"
    day = (clock.now() + timedelta(days=3)).date().isoformat()
    for form, status, text in [
        ({"delegate": "ghost@example.org", "expires_on": day}, 404, b"No activated postbox"),
        ({"delegate": "dan@example.org", "expires_on": "soon"}, 400, b"Enter the end date"),
        ({"delegate": "dan@example.org", "expires_on": day, "scope": "all"}, 400,
         b"Choose read only"),
        ({"delegate": "dan@example.org", "expires_on": day, "org": "nope"}, 404,
         b"Choose a sender"),
    ]:
        got = post(client, page, form, token_from=page)
        assert got.status_code == status and text in got.data, (form, got.status_code)
    ok = post(client, page, {"delegate": "dan@example.org", "expires_on": day}, token_from=page)
    assert ok.status_code == 302
    assert b"dan@example.org" in client.get(page).data


def test_no_grant_means_404_for_every_delegate_route(pb, clock, org, owner, delegate,
                                                     client) -> None:
    login(client, delegate.person)
    oid = owner.person.recipient_id
    for path in (f"/postbox/{oid}", f"/postbox/{oid}/messages/{'0' * 32}",
                 f"/postbox/{oid}/messages/{'0' * 32}/content", "/postbox/not-an-id"):
        assert client.get(path).status_code == 404, path
    # A pending (not yet accepted) offer opens nothing either.
    delegation.grant(pb, owner.vault(pb), "dan@example.org",
                     (clock.now() + timedelta(days=1)).date())
    assert client.get(f"/postbox/{oid}").status_code == 404
    assert post(client, f"/settings/delegation/{'0' * 32}/accept",
                token_from="/settings/delegation").status_code == 404


@pytest.mark.parametrize("scope", ["read", "reply"])
def test_reply_button_and_route_follow_the_scope(pb, clock, org, owner, delegate, client,
                                                 scope) -> None:
    import io

    from postbox import delegation_keys, delivery, replies
    from tests.fixtures.postbox import pdf_bytes

    replies.init_org_keys(pb, org)
    doc = delivery.deliver(pb, org, "CUST-1", io.BytesIO(pdf_bytes("Bill")), "Bill",
                           "bill.pdf").document_id
    grant = delegation.grant(pb, owner.vault(pb), "dan@example.org",
                             (clock.now() + timedelta(days=1)).date(), scope=scope)
    delegation_keys.rewrap(pb, owner.vault(pb))
    delegation.accept(pb, delegate.vault(pb), grant.id)
    login(client, delegate.person)
    oid = owner.person.recipient_id
    page = client.get(f"/postbox/{oid}/messages/{doc}")
    reply_url = f"/postbox/{oid}/messages/{doc}/reply"
    assert (reply_url.encode() in page.data) == (scope == "reply")
    sent = post(client, reply_url, {"text": "On behalf of my father."},
                token_from=f"/postbox/{oid}/messages/{doc}")
    if scope == "read":
        assert sent.status_code == 404
        assert replies.list_replies(pb, org) == []
    else:
        assert sent.status_code == 302
        assert sent.headers["Location"].endswith(f"/postbox/{oid}/messages/{doc}")
        [row] = replies.list_replies(pb, org)
        assert row.document_id == doc
