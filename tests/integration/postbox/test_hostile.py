"""Hostile inputs to the services: a clear error, and no state change."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from crypto.totp import code_at
from postbox import auth, delivery, reading, recipients
from postbox.errors import (
    AccountLocked, AuthenticationFailed, DocumentTooLarge, InvalidInput, NotFound,
    UnknownRecipient, UnsupportedDocumentType,
)
from postbox.models import Document, Evidence, PendingBlob, Recipient

from .conftest import PIN


def counts(pb) -> tuple[int, int, int]:
    with pb.uow() as uow:
        s = uow.session
        return (s.scalar(select(func.count()).select_from(Document)),
                s.scalar(select(func.count()).select_from(Evidence)),
                s.scalar(select(func.count()).select_from(PendingBlob)))


def blobs(pb) -> list[str]:
    return list(pb.store.list("docs/"))


def test_wrong_pin_locks_progressively_and_holds_in_db(pb, clock, alice) -> None:
    for _ in range(pb.settings.login_max_failures - 1):
        with pytest.raises(AuthenticationFailed) as info:
            auth.authenticate(pb, alice.email, "999888", alice.otp())
        assert type(info.value) is AuthenticationFailed
    with pytest.raises(AccountLocked):
        auth.authenticate(pb, alice.email, "999888", alice.otp())
    with pytest.raises(AccountLocked):  # even the right PIN is refused while locked
        auth.authenticate(pb, alice.email, PIN, alice.otp())
    with pb.uow() as uow:
        assert uow.session.get(Recipient, alice.recipient_id).locked_until is not None
    clock.advance(minutes=2)
    assert auth.authenticate(pb, alice.email, PIN, alice.otp()).recipient_id == alice.recipient_id


def test_unknown_identifier_fails_and_locks_the_same_way(pb, alice) -> None:
    messages = set()
    for _ in range(pb.settings.login_max_failures - 1):
        with pytest.raises(AuthenticationFailed) as info:
            auth.authenticate(pb, "nobody@example.org", PIN, "123456")
        messages.add(str(info.value))
    with pytest.raises(AuthenticationFailed) as info:
        auth.authenticate(pb, alice.email, "999888", alice.otp())
    messages.add(str(info.value))
    assert len(messages) == 1
    with pytest.raises(AccountLocked):
        auth.authenticate(pb, "nobody@example.org", PIN, "123456")


def test_reused_totp_is_refused(pb, clock, alice) -> None:
    code = alice.otp()
    auth.authenticate(pb, alice.email, PIN, code)
    with pytest.raises(AuthenticationFailed):
        auth.authenticate(pb, alice.email, PIN, code)


@pytest.mark.parametrize("offset", [-2, 2])
def test_totp_two_steps_off_is_refused(pb, clock, alice, offset) -> None:
    clock.advance(seconds=90)
    code = code_at(alice.totp_secret, clock.now().timestamp() + 30 * offset)
    with pytest.raises(AuthenticationFailed):
        auth.authenticate(pb, alice.email, PIN, code)


@pytest.mark.parametrize("offset", [-1, 1])
def test_totp_one_step_off_is_accepted(pb, clock, alice, offset) -> None:
    clock.advance(seconds=90)
    code = code_at(alice.totp_secret, clock.now().timestamp() + 30 * offset)
    auth.authenticate(pb, alice.email, PIN, code)


@pytest.mark.parametrize("pin,otp", [("٤٨٢٩١٧", None), (PIN, "١٢٣٤٥٦"), ("４８２９１７", None),
                                     (PIN, "12345"), (PIN, "1234567"), ("", ""), (PIN, "000000")])
def test_non_ascii_or_malformed_pin_and_otp_refused(pb, alice, pin, otp) -> None:
    otp = otp if otp is not None else alice.otp()
    with pb.uow() as uow:
        before = uow.session.get(Recipient, alice.recipient_id).totp_last_step
    with pytest.raises(AuthenticationFailed):
        auth.authenticate(pb, alice.email, pin, otp)
    with pb.uow() as uow:
        assert uow.session.get(Recipient, alice.recipient_id).totp_last_step == before


def test_unknown_recipient_stores_nothing(pb, org, make_pdf) -> None:
    before = counts(pb)
    with pytest.raises(UnknownRecipient):
        delivery.deliver(pb, org, "NO-SUCH", io.BytesIO(make_pdf("x")), "S", "s.pdf")
    assert counts(pb) == before and blobs(pb) == []


def test_oversize_file_stores_nothing(pb, org, alice, make_pdf) -> None:
    small = pb.settings.with_overrides(max_document_bytes=2000)
    object.__setattr__(pb, "settings", small)
    before = counts(pb)
    big = make_pdf("x", pages=40)
    assert len(big) > 2000
    with pytest.raises(DocumentTooLarge):
        delivery.deliver(pb, org, alice.external_id, io.BytesIO(big), "Big", "big.pdf")
    assert counts(pb) == before and blobs(pb) == []
    assert not any(p.name.startswith(".") for p in pb.store.root.rglob("*") if p.is_file())


@pytest.mark.parametrize("payload", [b"<html><script>alert(1)</script></html>",
                                     b"MZ\x90\x00 this is an exe", b"  %PDF-1.7 leading space",
                                     b"PK\x03\x04zip"])
def test_non_pdf_disguised_as_pdf_is_refused(pb, org, alice, payload) -> None:
    before = counts(pb)
    with pytest.raises(UnsupportedDocumentType):
        delivery.deliver(pb, org, alice.external_id, io.BytesIO(payload), "S", "invoice.pdf")
    assert counts(pb) == before and blobs(pb) == []


@pytest.mark.parametrize("subject,filename", [("", "a.pdf"), ("x" * 201, "a.pdf"),
                                              ("Hi\r\nBcc: x@y", "a.pdf"), ("ok", "..\\.."),
                                              ("RLO \u202e fdp.exe", "a.pdf"), ("ok", "a\x00.pdf"),
                                              ("ok", ".hidden")])
def test_bad_subjects_and_names_refused(pb, org, alice, make_pdf, subject, filename) -> None:
    before = counts(pb)
    with pytest.raises(InvalidInput):
        delivery.deliver(pb, org, alice.external_id, io.BytesIO(make_pdf("x")), subject, filename)
    assert counts(pb) == before


def test_empty_file_refused(pb, org, alice) -> None:
    with pytest.raises(InvalidInput):
        delivery.deliver(pb, org, alice.external_id, io.BytesIO(b""), "S", "s.pdf")


def test_other_recipients_document_is_not_found(pb, org, alice, bob, make_pdf) -> None:
    doc = delivery.deliver(pb, org, alice.external_id, io.BytesIO(make_pdf("a")), "A", "a.pdf")
    vault = auth.unlock(pb, auth.authenticate(pb, bob.email, PIN, bob.otp()).token)
    for call in (reading.message, reading.open_message, reading.archive, reading.delete):
        with pytest.raises(NotFound):
            call(pb, vault, doc.document_id)
    with pytest.raises(NotFound):
        reading.message(pb, vault, "0" * 32)
    assert reading.inbox(pb, vault).total == 0


def test_header_injection_in_email_refused(pb, org) -> None:
    for bad in ["a@b.org\r\nBcc: c@d.org", "a@b.org\n", "not-an-email", "a@b", "ä@b.org"]:
        with pytest.raises(InvalidInput):
            recipients.invite_recipient(pb, org, "E-1", bad)


def test_weak_pins_refused_at_activation(pb, clock, org) -> None:
    from postbox import activation

    inv = recipients.invite_recipient(pb, org, "W-1", "weak@example.org")
    start = activation.begin_activation(pb, inv.activation_code)
    for weak in ["123456", "111111", "654321", "121212", "123123", "12345", "abcdef"]:
        with pytest.raises(InvalidInput):
            activation.activate(pb, inv.activation_code, weak, weak,
                                code_at(start.totp_secret, clock.now().timestamp()))
    with pytest.raises(InvalidInput):
        activation.activate(pb, inv.activation_code, "482917", "482918",
                            code_at(start.totp_secret, clock.now().timestamp()))
    assert recipients.reachability(pb, org, "W-1") == "invited"


def test_idempotent_delivery_same_key(pb, org, alice, make_pdf) -> None:
    pdf = make_pdf("once")
    first = delivery.deliver(pb, org, alice.external_id, io.BytesIO(pdf), "S", "s.pdf",
                             idempotency_key="k-1")
    again = delivery.deliver(pb, org, alice.external_id, io.BytesIO(pdf), "S", "s.pdf",
                             idempotency_key="k-1")
    assert again.document_id == first.document_id and again.replayed
    from postbox.errors import Conflict

    with pytest.raises(Conflict):
        delivery.deliver(pb, org, alice.external_id, io.BytesIO(make_pdf("other")), "S",
                         "s.pdf", idempotency_key="k-1")
    assert counts(pb)[0] == 1 and len(blobs(pb)) == 1
