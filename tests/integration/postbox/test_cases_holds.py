"""The dunning story, at the service level: a reply puts the case on hold; automated reminders
wait for a person; the sender reads the reply with its own key; nothing is sent silently."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from postbox import auth, cases, delivery, evidence, reading, replies
from postbox.errors import Conflict, InvalidInput, NotFound
from postbox.models import Document, Outbox

from .conftest import PIN


def notices(pb) -> int:
    with pb.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(Outbox)
                                  .where(Outbox.kind == "notice"))


def send(pb, org, alice, make_pdf, subject, automated=True, case="INV-1"):
    return delivery.deliver(pb, org, alice.external_id, io.BytesIO(make_pdf(subject)), subject,
                            "letter.pdf", case=case, automated=automated)


@pytest.fixture
def org_key(pb, org) -> bytes:
    return replies.init_org_keys(pb, org)


def test_dunning_story(pb, clock, org, alice, make_pdf, org_key) -> None:
    invoice = send(pb, org, alice, make_pdf, "Invoice 1001")
    clock.advance(days=14)
    reminder = send(pb, org, alice, make_pdf, "Reminder 1")
    assert (invoice.status, reminder.status) == ("consigned", "consigned")
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    receipt = replies.reply(pb, vault, reminder.document_id, "Paid by card on 3 March.")
    assert receipt.case_on_hold
    before = notices(pb)
    clock.advance(days=7)
    second = send(pb, org, alice, make_pdf, "Reminder 2")
    clock.advance(days=7)
    collection = send(pb, org, alice, make_pdf, "Collection notice")
    assert (second.status, collection.status) == ("held", "held")
    assert notices(pb) == before  # nobody was notified of held items
    personal = send(pb, org, alice, make_pdf, "Sorry for the confusion", automated=False)
    assert personal.status == "consigned"  # people still get through
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    visible = {m.document_id for m in reading.inbox(pb, vault).items}
    assert second.document_id not in visible and collection.document_id not in visible
    with pytest.raises(NotFound):
        reading.message(pb, vault, second.document_id)

    [queued] = cases.holds_queue(pb, org)
    assert (queued.reference, queued.held_items, queued.replies) == ("INV-1", 2, 1)
    [pending] = replies.list_replies(pb, org)
    opened = replies.open_reply(replies.reply_blob(pb, org, pending.reply_id),
                                pending.reply_id, pending.org_id, org_key)
    assert opened.text == "Paid by card on 3 March." and opened.case_reference == "INV-1"
    assert replies.acknowledge(pb, org, [pending.reply_id]) == 1
    assert replies.list_replies(pb, org) == []

    assert cases.cancel(pb, org, "INV-1", "clerk@acme.example") == [
        second.document_id, collection.document_id]
    assert cases.release(pb, org, "INV-1", "clerk@acme.example") == []  # nothing left held
    with pb.uow() as uow:
        chain = [e.event for e in evidence.for_document(uow.session, second.document_id)]
        replied = [e.event for e in evidence.for_document(uow.session, reminder.document_id)]
        assert uow.session.get(Document, second.document_id).status == "cancelled"
    assert chain == ["submission_accepted", "held", "cancelled"]
    assert replied == ["submission_accepted", "consigned", "replied"]
    assert notices(pb) == before + 1  # only the personal letter


def test_release_consigns_in_order_exactly_once(pb, clock, org, alice, make_pdf,
                                                org_key) -> None:
    first = send(pb, org, alice, make_pdf, "Invoice")
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    replies.reply(pb, vault, first.document_id, "", dispute=True)
    held = []
    for i in range(2):
        clock.advance(days=7)
        held.append(send(pb, org, alice, make_pdf, f"Reminder {i}").document_id)
    before = notices(pb)
    assert cases.release(pb, org, "INV-1", "ops@acme.example") == held
    assert cases.release(pb, org, "INV-1", "ops@acme.example") == []
    assert notices(pb) == before + 2
    assert cases.holds_queue(pb, org) == []
    with pb.uow() as uow:
        events = [e.event for e in evidence.for_document(uow.session, held[0])]
        released = [e.body for e in evidence.for_document(uow.session, held[0])
                    if e.event == "released"][0]
    assert events == ["submission_accepted", "held", "released", "consigned"]
    assert b'"by":"ops@acme.example"' in released
    assert send(pb, org, alice, make_pdf, "Next reminder").status == "consigned"


def test_second_dispute_does_not_double_hold(pb, org, alice, make_pdf, org_key) -> None:
    doc = send(pb, org, alice, make_pdf, "Invoice")
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    replies.reply(pb, vault, doc.document_id, "", dispute=True)
    [first] = cases.holds_queue(pb, org)
    replies.reply(pb, vault, doc.document_id, "I dispute this again", dispute=True)
    [again] = cases.holds_queue(pb, org)
    assert again.hold_since == first.hold_since and again.replies == 2


def test_reply_rules(pb, org, alice, bob, make_pdf, org_key) -> None:
    doc = send(pb, org, alice, make_pdf, "Invoice", case=None)
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    pdf = make_pdf("receipt")
    receipt = replies.reply(pb, vault, doc.document_id, "see receipt", [("receipt.pdf", pdf)])
    assert not receipt.case_on_hold  # no case, nothing to hold
    for bad in ([("x.pdf", b"<html>")], [("a.pdf", pdf)] * 2, [("x.pdf", b"")]):
        with pytest.raises(InvalidInput):
            replies.reply(pb, vault, doc.document_id, "x", bad)
    with pytest.raises(InvalidInput):
        replies.reply(pb, vault, doc.document_id, "x" * 10_001)
    with pytest.raises(InvalidInput):
        replies.reply(pb, vault, doc.document_id, "   ")
    other = auth.unlock(pb, auth.authenticate(pb, bob.email, PIN, bob.otp()).token)
    with pytest.raises(NotFound):  # not Bob's message
        replies.reply(pb, other, doc.document_id, "hijack")
    with pytest.raises(Conflict):
        replies.init_org_keys(pb, org)
    [sealed] = replies.list_replies(pb, org)
    blob = replies.reply_blob(pb, org, sealed.reply_id).read()
    assert b"see receipt" not in blob and b"%PDF" not in blob
    opened = replies.open_reply(io.BytesIO(blob), sealed.reply_id, sealed.org_id, org_key)
    assert opened.attachments == [("receipt.pdf", pdf)]
    from crypto.errors import OpenError
    from crypto.keys import BoxKeyPair

    with pytest.raises(OpenError):  # no key but the organisation's opens it
        replies.open_reply(io.BytesIO(blob), sealed.reply_id, sealed.org_id,
                           BoxKeyPair.generate().to_bytes())


def test_sender_without_reply_key_gets_no_replies(pb, org, alice, make_pdf) -> None:
    doc = send(pb, org, alice, make_pdf, "Invoice")
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    with pytest.raises(InvalidInput):
        replies.reply(pb, vault, doc.document_id, "hello")


def test_supersede_and_retract_keep_both_versions(pb, clock, org, alice, make_pdf) -> None:
    from postbox import corrections

    wrong = send(pb, org, alice, make_pdf, "Invoice (wrong amount)", automated=False)
    clock.advance(hours=1)
    right = send(pb, org, alice, make_pdf, "Invoice (corrected)", automated=False)
    corrections.supersede(pb, org, wrong.document_id, right.document_id, "billing@acme")
    corrections.supersede(pb, org, wrong.document_id, right.document_id, "billing@acme")  # again
    other = send(pb, org, alice, make_pdf, "Newsletter", automated=False, case=None)
    corrections.retract(pb, org, other.document_id, "sent by mistake", "marketing@acme")
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    old_view = reading.message(pb, vault, wrong.document_id)
    assert old_view.superseded_by == right.document_id and not old_view.retracted
    assert reading.message(pb, vault, other.document_id).retracted
    assert reading.inbox(pb, vault).total == 3  # nothing disappeared
    with pb.uow() as uow:
        events = [(e.event, e.body) for e in evidence.for_document(uow.session,
                                                                   wrong.document_id)]
    assert [e for e, _ in events][-1] == "superseded"
    assert right.document_id.encode() in events[-1][1] and b"billing@acme" in events[-1][1]
    with pytest.raises(Conflict):
        corrections.supersede(pb, org, wrong.document_id, other.document_id, "x")
    with pytest.raises(NotFound):
        corrections.retract(pb, org, "0" * 32, "no", "x")
