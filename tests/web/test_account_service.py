"""postbox.account (the services behind /settings and /history), on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from crypto.totp import code_at
from postbox import account, auth, reading
from postbox.errors import AccountLocked, AuthenticationFailed, Conflict, InvalidInput
from postbox.models import Recipient
from tests.web.helpers import PIN, send


def _vault(pb, person):
    return auth.unlock(pb, auth.authenticate(pb, person.email, PIN, person.otp()).token)


def test_phrase_is_sealed(pb, alice) -> None:
    vault = _vault(pb, alice)
    assert account.phrase(pb, vault) is None
    assert account.set_phrase(pb, vault, "  blue kettle ") == "blue kettle"
    with pb.uow() as uow:
        sealed = uow.session.scalar(select(Recipient.anti_phishing_sealed))
    assert sealed and b"blue kettle" not in sealed
    assert account.phrase(pb, vault) == "blue kettle"
    assert account.set_phrase(pb, vault, "") is None and account.phrase(pb, vault) is None
    with pytest.raises(InvalidInput):
        account.set_phrase(pb, vault, "bad\u202ephrase")


def test_change_email_checks_the_code_once_and_counts_failures(pb, alice, bob) -> None:
    vault = _vault(pb, alice)
    code = alice.otp()
    assert account.change_email(pb, vault, "Alice.New@example.org", code) == \
        "alice.new@example.org"
    with pytest.raises(AuthenticationFailed):
        account.change_email(pb, vault, "third@example.org", code)  # a replayed code
    with pytest.raises(Conflict):
        account.change_email(pb, vault, bob.email, alice.otp())
    errors = []
    for _ in range(pb.settings.login_max_failures - 1):  # the replay above was one failure
        with pytest.raises(AuthenticationFailed) as caught:
            account.change_email(pb, vault, "x@example.org", "000000")
        errors.append(type(caught.value))
    assert errors[-1] is AccountLocked and AccountLocked not in errors[:-1]
    with pytest.raises(AccountLocked):  # locked means locked, even with a good code
        account.change_email(pb, vault, "y@example.org", alice.otp())
    assert account.profile(pb, vault).email == "alice.new@example.org"


def test_totp_reenrolment(pb, clock, alice) -> None:
    vault = _vault(pb, alice)
    with pytest.raises(InvalidInput):
        account.confirm_totp_enrolment(pb, vault, PIN, "123456")
    enrolment = account.begin_totp_enrolment(pb, vault)
    assert enrolment.provisioning_uri.startswith("otpauth://totp/")
    clock.advance(seconds=30)
    new_code = code_at(enrolment.secret, clock.now().timestamp())
    with pytest.raises(AuthenticationFailed):
        account.confirm_totp_enrolment(pb, vault, "999999", new_code)
    clock.advance(seconds=30)
    account.confirm_totp_enrolment(pb, vault, PIN, code_at(enrolment.secret,
                                                           clock.now().timestamp()))
    with pytest.raises(AuthenticationFailed):
        auth.authenticate(pb, alice.email, PIN, alice.otp())  # the old app no longer counts
    alice.totp_secret = enrolment.secret
    assert auth.authenticate(pb, alice.email, PIN, alice.otp()).recipient_id


def test_history_lists_own_retrievals_with_their_login(pb, clock, org, alice, bob) -> None:
    doc, _ = send(pb, org, alice, "First")
    other, _ = send(pb, org, bob, "Bob's")
    first = _vault(pb, alice)
    reading.read_all(pb, first, doc)
    clock.advance(minutes=5)
    second = _vault(pb, alice)
    reading.read_all(pb, second, doc)
    reading.read_all(pb, _vault(pb, bob), other)
    page = account.history(pb, second)
    assert page.total == 2
    newest, oldest = page.items
    assert newest.at > oldest.at and newest.subject == "First" and newest.org_name == "Acme Bank"
    assert newest.this_session and not oldest.this_session
    assert newest.session != oldest.session and newest.login_at > oldest.login_at
    assert newest.methods == ("pin", "totp")
    assert account.history(pb, second, page=2, per_page=1).items[0].evidence_id == \
        oldest.evidence_id


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_drafts_are_sealed_and_expire(pb, clock) -> None:
    text = account.seal_draft(pb, {"pin": "482917"})
    assert "482917" not in text
    assert account.open_draft(pb, text) == {"pin": "482917"}
    assert account.open_draft(pb, text[:-4] + "AAAA") is None
    assert account.open_draft(pb, "not base64!") is None
    clock.advance(minutes=31)
    assert account.open_draft(pb, text) is None
