"""Invite -> activate -> authenticate -> deliver -> inbox -> open, on SQLite and PostgreSQL."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from crypto.totp import code_at
from postbox import activation, auth, delivery, evidence, reading, recipients
from postbox.errors import AuthenticationFailed, NotFound, SessionExpired
from postbox.models import Document, Evidence

from .conftest import PIN, activate_person


def test_full_flow_round_trips_bytes(pb, org, alice, make_pdf) -> None:
    pdf = make_pdf("Your statement")
    receipt = delivery.deliver(pb, org, alice.external_id, io.BytesIO(pdf), "Statement",
                               "statement.pdf")
    assert receipt.status == "consigned"
    session = auth.authenticate(pb, alice.email, PIN, alice.otp())
    vault = auth.unlock(pb, session.token)
    page = reading.inbox(pb, vault)
    assert [(m.subject, m.org_name, m.read) for m in page.items] == [
        ("Statement", "Acme Bank", False)]
    msg, data = reading.read_all(pb, vault, receipt.document_id)
    assert data == pdf and msg.filename == "statement.pdf"
    assert reading.inbox(pb, vault).items[0].read is True
    with pb.uow() as uow:
        events = [e.event for e in evidence.for_document(uow.session, receipt.document_id)]
        retrieved = uow.session.scalar(select(Evidence).where(Evidence.event == "retrieved"))
        assert retrieved.countersignature is not None
    assert events == ["submission_accepted", "consigned", "retrieved"]


def test_login_by_external_id(pb, alice) -> None:
    assert auth.authenticate(pb, alice.external_id, PIN, alice.otp()).recipient_id == \
        alice.recipient_id


def test_invite_links_existing_postbox_across_orgs(pb, org, alice) -> None:
    from postbox import orgs

    other = orgs.create_org(pb, "City Utilities").slug
    inv = recipients.invite_recipient(pb, other, "U-77", alice.email)
    assert inv.linked_existing and inv.activation_code is None
    assert inv.recipient_id == alice.recipient_id
    assert recipients.reachability(pb, other, "U-77") == "active"


def test_reachability_states(pb, org, alice) -> None:
    recipients.invite_recipient(pb, org, "NEW-1", "new@example.org")
    assert recipients.reachability_many(pb, org, ["CUST-1", "NEW-1", "NOPE"]) == {
        "CUST-1": "active", "NEW-1": "invited", "NOPE": "unknown"}


def test_document_delivered_before_activation_opens_after(pb, clock, org, make_pdf) -> None:
    recipients_inv = recipients.invite_recipient(pb, org, "LATE-1", "late@example.org")
    pdf = make_pdf("early letter")
    receipt = delivery.deliver(pb, org, "LATE-1", io.BytesIO(pdf), "Early", "early.pdf")
    start = activation.begin_activation(pb, recipients_inv.activation_code)
    activation.activate(pb, recipients_inv.activation_code, PIN, PIN,
                        code_at(start.totp_secret, clock.now().timestamp()))
    clock.advance(seconds=30)
    token = auth.authenticate(pb, "late@example.org", PIN,
                              code_at(start.totp_secret, clock.now().timestamp())).token
    assert reading.read_all(pb, auth.unlock(pb, token), receipt.document_id)[1] == pdf


def test_activation_code_is_single_use(pb, clock, org) -> None:
    inv = recipients.invite_recipient(pb, org, "ONCE-1", "once@example.org")
    start = activation.begin_activation(pb, inv.activation_code)
    activation.activate(pb, inv.activation_code, PIN, PIN,
                        code_at(start.totp_secret, clock.now().timestamp()))
    with pytest.raises(AuthenticationFailed):
        activation.begin_activation(pb, inv.activation_code)


def test_recovery_keeps_documents_readable(pb, org, alice, make_pdf) -> None:
    pdf = make_pdf("keep me")
    doc = delivery.deliver(pb, org, alice.external_id, io.BytesIO(pdf), "Keep", "k.pdf")
    new_code = auth.recover(pb, alice.email, alice.recovery_code, "905172", alice.otp())
    assert new_code != alice.recovery_code
    with pytest.raises(AuthenticationFailed):
        auth.authenticate(pb, alice.email, PIN, alice.otp())
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, "905172", alice.otp()).token)
    assert reading.read_all(pb, vault, doc.document_id)[1] == pdf
    with pytest.raises(AuthenticationFailed):  # the old recovery code is spent
        auth.recover(pb, alice.email, alice.recovery_code, "905173", alice.otp())


def test_change_pin_rewraps_keys_only(pb, org, alice, make_pdf) -> None:
    pdf = make_pdf("pin change")
    doc = delivery.deliver(pb, org, alice.external_id, io.BytesIO(pdf), "P", "p.pdf")
    with pb.uow() as uow:
        blob_before = uow.session.get(Document, doc.document_id).ciphertext_sha256
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    auth.change_pin(pb, vault, PIN, alice.otp(), "730461", "730461")
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, "730461", alice.otp()).token)
    assert reading.read_all(pb, vault, doc.document_id)[1] == pdf
    with pb.uow() as uow:
        assert uow.session.get(Document, doc.document_id).ciphertext_sha256 == blob_before


def test_sessions_expire_idle_and_absolute_and_on_logout(pb, clock, alice) -> None:
    token = auth.authenticate(pb, alice.email, PIN, alice.otp()).token
    auth.unlock(pb, token)
    clock.advance(seconds=pb.settings.session_idle_s + 1)
    with pytest.raises(SessionExpired):
        auth.unlock(pb, token)
    unlocked = auth.authenticate(pb, alice.email, PIN, alice.otp())
    step = pb.settings.session_idle_s - 60  # active often enough never to idle out
    while clock.now() + timedelta(seconds=step) < unlocked.expires_at:
        clock.advance(seconds=step)
        auth.unlock(pb, unlocked.token)
    clock.advance(seconds=step)
    with pytest.raises(SessionExpired):
        auth.unlock(pb, unlocked.token)
    token = auth.authenticate(pb, alice.email, PIN, alice.otp()).token
    auth.logout(pb, token)
    with pytest.raises(SessionExpired):
        auth.unlock(pb, token)


def test_wrong_session_key_unlocks_nothing(pb, alice) -> None:
    token = auth.authenticate(pb, alice.email, PIN, alice.otp()).token
    session_id, _ = token.split(".")
    with pytest.raises(SessionExpired):
        auth.unlock(pb, session_id + "." + "A" * 43)


def test_archive_delete_restore(pb, org, alice, clock, make_pdf) -> None:
    doc = delivery.deliver(pb, org, alice.external_id, io.BytesIO(make_pdf("a")), "A", "a.pdf")
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    reading.archive(pb, vault, doc.document_id)
    assert reading.inbox(pb, vault).total == 0
    assert reading.inbox(pb, vault, "archive").total == 1
    reading.delete(pb, vault, doc.document_id)
    assert reading.inbox(pb, vault, "archive").total == 0
    reading.restore(pb, vault, doc.document_id)
    assert reading.inbox(pb, vault, "archive").total == 1
    reading.delete(pb, vault, doc.document_id)
    clock.advance(days=31)
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    with pytest.raises(NotFound):
        reading.restore(pb, vault, doc.document_id)


def test_inbox_orders_due_dates_first_and_searches(pb, org, alice, clock, make_pdf) -> None:
    from datetime import date

    for i, subject in enumerate(["Invoice March", "Newsletter", "Reminder"]):
        clock.advance(seconds=60)
        delivery.deliver(pb, org, alice.external_id, io.BytesIO(make_pdf(subject)), subject,
                         f"{i}.pdf", due_date=date(2026, 12, 1) if subject == "Invoice March"
                         else None)
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    assert [m.subject for m in reading.inbox(pb, vault).items] == [
        "Invoice March", "Reminder", "Newsletter"]
    assert [m.subject for m in reading.inbox(pb, vault, query="remind").items] == ["Reminder"]
    assert reading.inbox(pb, vault, query="acme").total == 3
    assert reading.inbox(pb, vault, query="%").total == 0
    page = reading.inbox(pb, vault, per_page=2, page=2)
    assert page.total == 3 and len(page.items) == 1 and page.pages == 2
