"""A delegate with read-and-reply access answers in the owner's case; read-only cannot."""
from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select

from postbox import delegation, delegation_keys, delivery, replies
from postbox.errors import NotFound
from postbox.models import Case, Evidence, Reply
from tests.delegation.test_service import tomorrow
from tests.fixtures.postbox import pdf_bytes


def _letter(pb, org: str) -> str:
    return delivery.deliver(pb, org, "CUST-1", io.BytesIO(pdf_bytes("Dunning")), "Dunning",
                            "letter.pdf", case="INV-7").document_id


def _granted(pb, clock, owner, delegate, scope: str) -> str:
    ov = owner.vault(pb)
    grant = delegation.grant(pb, ov, "dan@example.org", tomorrow(clock), scope=scope)
    delegation_keys.rewrap(pb, ov)
    delegation.accept(pb, delegate.vault(pb), grant.id)
    return grant.id


def test_reply_scope_answers_as_the_owner_and_names_the_delegate(pb, clock, org, owner,
                                                                 delegate) -> None:
    org_private = replies.init_org_keys(pb, org)
    doc = _letter(pb, org)
    _granted(pb, clock, owner, delegate, "reply")
    oid, did = owner.person.recipient_id, delegate.person.recipient_id

    receipt = replies.reply(pb, delegate.vault(pb), doc, "I pay for my mother next week.",
                            owner_id=oid)
    assert receipt.case_on_hold

    with pb.uow() as uow:
        s = uow.session
        row = s.get(Reply, receipt.reply_id)
        assert row is not None and row.recipient_id == oid and row.document_id == doc
        org_id = row.org_id
        case = s.scalar(select(Case).where(Case.reference == "INV-7"))
        assert case is not None and case.state == "on_hold"
        body = json.loads(bytes(s.scalar(select(Evidence.body).where(
            Evidence.document_id == doc, Evidence.event == "replied"))))
    assert body["recipient"] == oid and body["details"]["delegate"] == did
    opened = replies.open_reply(replies.reply_blob(pb, org, receipt.reply_id),
                                receipt.reply_id, org_id, org_private)
    assert opened.text == "I pay for my mother next week." and opened.in_reply_to == doc


def test_read_only_revoked_or_foreign_cannot_reply(pb, clock, org, owner, delegate) -> None:
    replies.init_org_keys(pb, org)
    doc = _letter(pb, org)
    oid = owner.person.recipient_id
    grant_id = _granted(pb, clock, owner, delegate, "read")
    with pytest.raises(NotFound):
        replies.reply(pb, delegate.vault(pb), doc, "hello", owner_id=oid)
    # Without owner_id the delegate's own postbox is meant: the owner's letter is not there.
    with pytest.raises(NotFound):
        replies.reply(pb, delegate.vault(pb), doc, "hello")
    delegation.revoke(pb, owner.vault(pb), grant_id)
    with pytest.raises(NotFound):
        replies.reply(pb, delegate.vault(pb), doc, "hello", owner_id=oid)
    with pb.uow() as uow:
        assert uow.session.scalar(select(Reply.id)) is None
