"""Delegation end to end through the web in real headless Chromium:

1. the owner grants; the delegate accepts and opens a document;
2. the owner's history shows it and the owner gets a notice;
3. the owner revokes, and the delegate gets 404 at once;
4. an expired grant behaves the same as a revoked one;
5. the evidence names the delegate.

Two browser contexts (owner, delegate) on one real threaded server; a FrozenClock moves time.
"""
from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from crypto.signing import verify_countersignature
from crypto.totp import code_at
from postbox import delivery
from postbox.models import Evidence, Outbox, Recipient
from tests.e2e.test_portal_chromium import base_url, browser  # noqa: F401 - fixtures
from tests.fixtures.postbox import PIN, Person, activate_person, pdf_bytes

pytestmark = [pytest.mark.parametrize("db_url", ["sqlite"], indirect=True), pytest.mark.slow]


def _login(context: Any, person: Person, clock) -> Any:  # type: ignore[no-untyped-def]
    page = context.new_page()
    clock.advance(seconds=30)
    page.goto("/login")
    page.fill("#identifier", person.email)
    page.fill("#pin", PIN)
    page.fill("#otp", code_at(person.totp_secret, clock.now().timestamp()))
    page.click("main button[type=submit]")
    assert page.url.endswith("/inbox"), page.url
    return page


def _offer(page: Any, who: str, until: str) -> None:
    page.goto("/settings")
    page.click("text=Manage access to your postbox")
    page.fill("#delegate", who)
    page.fill("#expires_on", until)
    page.click("#grant button[type=submit]")
    assert "Access was offered" in page.inner_text("main")


def _accept_and_open(page: Any, owner_email: str, subject: str) -> str:
    page.goto("/settings/delegation")
    page.click(f"text=Accept access to the postbox of {owner_email}")
    page.click(f"nav.switcher >> text=Postbox of {owner_email}")
    assert owner_email in page.inner_text("h1")
    page.click(f"text={subject}")
    page.wait_for_load_state("load")
    return page.locator("iframe.document").get_attribute("src")


def test_delegation_in_the_browser(pb, clock, base_url, browser) -> None:  # noqa: F811
    from postbox import orgs

    orgs.create_org(pb, "Acme Bank", "acme")
    olga = activate_person(pb, clock, "acme", "CUST-1", "olga@example.org")
    dan = activate_person(pb, clock, "acme", "CUST-2", "dan@example.org")
    original = pdf_bytes("Dear Olga, your mortgage statement.")
    doc = delivery.deliver(pb, "acme", "CUST-1", io.BytesIO(original), "Mortgage statement",
                           "mortgage.pdf").document_id

    owner_ctx = browser.new_context(base_url=base_url, locale="en-GB")
    delegate_ctx = browser.new_context(base_url=base_url, locale="en-GB")
    owner = _login(owner_ctx, olga, clock)
    until = (clock.now() + timedelta(days=10)).date().isoformat()
    _offer(owner, "dan@example.org", until)
    assert "waiting for acceptance" in owner.inner_text("#given")

    # 1. the delegate accepts (switcher appears) and opens the document: exact bytes
    delegate = _login(delegate_ctx, dan, clock)
    content_url = _accept_and_open(delegate, "olga@example.org", "Mortgage statement")
    assert content_url == f"/postbox/{olga.recipient_id}/messages/{doc}/content"
    fetched = delegate.request.get(content_url)
    assert fetched.status == 200 and fetched.body() == original
    assert delegate.locator("nav.switcher >> text=My postbox").count() == 1

    # 2. the owner's history names the delegate; a notice to the owner is queued
    owner.goto("/history")
    assert "Opened by dan@example.org" in owner.inner_text("main")
    with pb.uow() as uow:
        payloads = [json.loads(p) for p in uow.session.scalars(
            select(Outbox.payload).where(Outbox.kind == "notice"))]
    assert {"recipient_id": olga.recipient_id, "document_id": doc,
            "reason": "delegate_open"} in payloads

    # 5. the evidence names the delegate and carries the delegate's countersignature
    with pb.uow() as uow:
        s = uow.session
        bodies = [(bytes(b), bytes(c)) for b, c in s.execute(
            select(Evidence.body, Evidence.countersignature).where(
                Evidence.document_id == doc, Evidence.event == "retrieved"))]
        dan_key = bytes(s.scalar(select(Recipient.ed25519_public)
                                 .where(Recipient.id == dan.recipient_id)))
    assert len(bodies) >= 1
    for body, countersignature in bodies:
        assert json.loads(body)["details"]["delegate"] == dan.recipient_id
        verify_countersignature(body, countersignature, dan_key)

    # 3. the owner revokes; the delegate's next request is a 404, at once
    owner.goto("/settings/delegation")
    owner.click("text=End access for dan@example.org")
    assert "stopped at once" in owner.inner_text("main")
    assert delegate.request.get(content_url).status == 404
    assert delegate.request.get(f"/postbox/{olga.recipient_id}").status == 404
    delegate.goto("/inbox")
    assert delegate.locator("nav.switcher").count() == 0

    # 4. a new grant that expires behaves the same as a revoked one
    _offer(owner, "dan@example.org", (clock.now() + timedelta(days=1)).date().isoformat())
    delegate.goto("/settings/delegation")
    content_url = _accept_and_open(delegate, "olga@example.org", "Mortgage statement")
    assert delegate.request.get(content_url).status == 200
    clock.advance(days=2)
    delegate = _login(delegate_ctx, dan, clock)  # the old session idled out meanwhile
    assert delegate.request.get(content_url).status == 404
    assert delegate.request.get(f"/postbox/{olga.recipient_id}").status == 404
    assert delegate.locator("nav.switcher").count() == 0
    owner_ctx.close()
    delegate_ctx.close()
