"""Delegation through the services, on both databases: grant, accept, re-wrap, open, evidence,
history, notice, revoke, expire, scope."""
from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crypto.errors import SignatureError
from crypto.signing import key_id, verify_countersignature
from postbox import (
    account,
    delegation,
    delegation_keys,
    delegation_reading,
    delivery,
    orgs,
)
from postbox.errors import Conflict, InvalidInput, NotFound
from postbox.models import DelegateStanza, Evidence, Outbox, Recipient
from tests.delegation.conftest import unlocked
from tests.fixtures.postbox import pdf_bytes


def send(pb, org: str, external_id: str, text: str) -> tuple[str, bytes]:
    pdf = pdf_bytes(text)
    receipt = delivery.deliver(pb, org, external_id, io.BytesIO(pdf), text, "letter.pdf")
    return receipt.document_id, pdf


def read(pb, vault, owner_id: str, document_id: str) -> bytes:
    opened = delegation_reading.open_message(pb, vault, owner_id, document_id)
    return b"".join(opened.chunks)


def stanzas(pb, grant_id: str) -> int:
    with pb.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(DelegateStanza)
                                  .where(DelegateStanza.grant_id == grant_id)) or 0


def tomorrow(clock) -> str:
    return (clock.now() + timedelta(days=1)).date().isoformat()


def test_grant_accept_open_evidence_history_notice_revoke(pb, clock, org, owner,
                                                         delegate) -> None:
    old_id, old_pdf = send(pb, org, "CUST-1", "Statement 2025")
    ov, oid = owner.vault(pb), owner.person.recipient_id
    grant = delegation.grant(pb, ov, "dan@example.org", tomorrow(clock), scope="read")
    assert grant.state == "pending" and grant.delegate_id == delegate.person.recipient_id

    # The existing document is re-wrapped by the owner's session; new ones at sealing.
    assert delegation_keys.pending(pb, ov)
    assert delegation_keys.rewrap(pb, ov) == 1
    assert not delegation_keys.pending(pb, ov)
    new_id, new_pdf = send(pb, org, "CUST-1", "Statement 2026")
    assert stanzas(pb, grant.id) == 2

    dv = delegate.vault(pb)
    with pytest.raises(NotFound):  # not before the delegate accepts
        delegation_reading.inbox(pb, dv, oid)
    assert [g.id for g in delegation.received(pb, dv)] == [grant.id]
    delegation.accept(pb, dv, grant.id)
    box = delegation_reading.inbox(pb, dv, oid)
    assert {m.subject for m in box.messages} == {"Statement 2025", "Statement 2026"}
    assert read(pb, dv, oid, old_id) == old_pdf
    assert read(pb, dv, oid, new_id) == new_pdf

    with pb.uow() as uow:
        s = uow.session
        rows = s.execute(select(Evidence.body, Evidence.countersignature).where(
            Evidence.document_id == new_id, Evidence.event == "retrieved")).all()
        public = s.scalar(select(Recipient.ed25519_public)
                          .where(Recipient.id == delegate.person.recipient_id))
        owner_public = s.scalar(select(Recipient.ed25519_public).where(Recipient.id == oid))
        notices = list(s.scalars(select(Outbox.payload).where(Outbox.kind == "notice")))
    assert len(rows) == 1
    raw, countersignature = bytes(rows[0][0]), bytes(rows[0][1])
    body = json.loads(raw)
    assert body["recipient"] == oid
    assert body["details"]["delegate"] == delegate.person.recipient_id
    assert body["details"]["delegate_key_id"] == key_id(public)
    verify_countersignature(raw, countersignature, public)
    with pytest.raises(SignatureError):  # the delegate's key signed, not the owner's
        verify_countersignature(raw, countersignature, owner_public)
    owner_notices = [json.loads(p) for p in notices]
    assert {"recipient_id": oid, "document_id": new_id, "reason": "delegate_open"} in owner_notices

    history = account.history(pb, owner.vault(pb))
    assert {r.document_id for r in history.items} == {old_id, new_id}
    assert {r.delegate for r in history.items} == {"dan@example.org"}

    delegation.revoke(pb, owner.vault(pb), grant.id)
    assert stanzas(pb, grant.id) == 0
    for call in (lambda: delegation_reading.inbox(pb, dv, oid),
                 lambda: delegation_reading.message(pb, dv, oid, new_id),
                 lambda: read(pb, dv, oid, new_id)):
        with pytest.raises(NotFound):
            call()
    third, _ = send(pb, org, "CUST-1", "After revocation")
    with pb.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(DelegateStanza)
                                  .where(DelegateStanza.document_id == third)) == 0


def test_an_expired_grant_behaves_like_a_revoked_one(pb, clock, org, owner, delegate) -> None:
    doc_id, _ = send(pb, org, "CUST-1", "Invoice")
    ov, oid = owner.vault(pb), owner.person.recipient_id
    grant = delegation.grant(pb, ov, "CUST-2", tomorrow(clock))  # by external id
    delegation_keys.rewrap(pb, ov)
    delegation.accept(pb, delegate.vault(pb), grant.id)
    assert read(pb, delegate.vault(pb), oid, doc_id)
    clock.advance(days=2)
    dv2 = unlocked(pb, delegate.person).vault(pb)  # a new login: the old session idled out
    with pytest.raises(NotFound):
        delegation_reading.open_message(pb, dv2, oid, doc_id)
    assert delegation.received(pb, dv2) == []  # the sweep ended it ...
    assert stanzas(pb, grant.id) == 0  # ... and deleted its keys


def test_scope_one_organisation_and_org_side_question(pb, clock, org, owner, delegate) -> None:
    other = orgs.create_org(pb, "City Council", "city").slug
    from postbox import recipients
    recipients.invite_recipient(pb, other, "CITY-1", "olga@example.org")
    bank_doc, _ = send(pb, org, "CUST-1", "Bank letter")
    city_doc, _ = send(pb, other, "CITY-1", "Council letter")
    ov, oid = owner.vault(pb), owner.person.recipient_id
    grant = delegation.grant(pb, ov, "dan@example.org", tomorrow(clock), org="city")
    assert delegation_keys.rewrap(pb, ov) == 1
    dv = delegate.vault(pb)
    delegation.accept(pb, dv, grant.id)
    assert [m.document_id for m in delegation_reading.inbox(pb, dv, oid).messages] == [city_doc]
    with pytest.raises(NotFound):
        delegation_reading.open_message(pb, dv, oid, bank_doc)
    with pb.uow() as uow:
        city_id = orgs.find_org(uow.session, "city").id
        bank_id = orgs.find_org(uow.session, "acme").id
    assert delegation.active_delegate(pb, city_id, oid)
    assert not delegation.active_delegate(pb, bank_id, oid)


def test_bad_grants_are_refused_plainly(pb, clock, org, owner, delegate) -> None:
    ov = owner.vault(pb)
    with pytest.raises(NotFound):
        delegation.grant(pb, ov, "nobody@example.org", tomorrow(clock))
    with pytest.raises(InvalidInput):
        delegation.grant(pb, ov, "olga@example.org", tomorrow(clock))
    with pytest.raises(InvalidInput):
        delegation.grant(pb, ov, "dan@example.org", "2020-01-01")
    with pytest.raises(InvalidInput):
        delegation.grant(pb, ov, "dan@example.org", "next week")
    with pytest.raises(InvalidInput):
        delegation.grant(pb, ov, "dan@example.org", tomorrow(clock), scope="admin")
    delegation.grant(pb, ov, "dan@example.org", tomorrow(clock))
    with pytest.raises(Conflict):
        delegation.grant(pb, ov, "dan@example.org", tomorrow(clock))
    with pytest.raises(NotFound):  # only the delegate can accept
        delegation.accept(pb, ov, delegation.given(pb, ov)[0].id)
