"""Staff accounts through the services: invitations, joining, login, lockout, sessions, the
organisation key kept for a session, and the role table."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from crypto.totp import code_at
from postbox import orgs, replies, staff, staff_sessions
from postbox.errors import (
    AccountLocked,
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    SessionExpired,
)
from postbox.models import LoginThrottle, StaffInvite, StaffSession, StaffUser
from tests.org.helpers import PASSWORD, make_staff

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _row(pb, model, **where):
    """A row as it is now, readable after its session is gone."""
    with pb.uow() as uow:
        row = uow.session.scalar(select(model).filter_by(**where))
        if row is not None:
            uow.session.expunge(row)
        return row


def test_invitation_code_is_single_use_and_stored_hashed(pb, clock, org) -> None:
    invitation = staff.invite(pb, org, "New.Person@Acme.example", "sender", invited_by="ada")
    assert invitation.email == "new.person@acme.example"
    row = _row(pb, StaffInvite, id=invitation.invite_id)
    assert invitation.code not in (row.code_hash, str(row.__dict__))
    start = staff.begin_join(pb, invitation.code.lower().replace("-", " "))  # forgiving typing
    assert start.email == "new.person@acme.example" and start.role == "sender"
    assert staff.begin_join(pb, invitation.code).totp_secret == start.totp_secret  # no rescan
    joined = staff.accept_invite(pb, invitation.code, PASSWORD, PASSWORD,
                                 code_at(start.totp_secret, clock.now().timestamp()))
    user = _row(pb, StaffUser, id=joined.id)
    assert user.password_hash.startswith("$argon2id$v=19$") and PASSWORD not in user.password_hash
    assert start.totp_secret.encode() not in user.totp_secret_sealed
    assert pb.keys.open("staff-totp", user.id, user.totp_secret_sealed).decode() == \
        start.totp_secret  # sealed with the purpose key rotation re-seals
    with pytest.raises(AuthenticationFailed, match="not valid"):
        staff.begin_join(pb, invitation.code)  # spent
    with pytest.raises(Conflict):
        staff.invite(pb, org, "new.person@acme.example", "admin")


def test_invitations_expire_and_can_be_withdrawn(pb, clock, org) -> None:
    old = staff.invite(pb, org, "late@acme.example", "sender")
    clock.advance(days=staff.INVITE_DAYS, seconds=1)
    with pytest.raises(AuthenticationFailed):
        staff.begin_join(pb, old.code)
    first = staff.invite(pb, org, "twice@acme.example", "sender")
    second = staff.invite(pb, org, "twice@acme.example", "compliance")
    with pytest.raises(AuthenticationFailed):
        staff.begin_join(pb, first.code)  # a new invitation withdraws the earlier one
    assert [i.role for i in staff.list_invites(pb, org)] == ["compliance"]
    staff.revoke_invite(pb, org, second.invite_id)
    with pytest.raises(AuthenticationFailed):
        staff.begin_join(pb, second.code)
    assert staff.list_invites(pb, org) == []
    for bad in ["", "nonsense", "A" * 64, "ABCD-EFGH-JKLM-NPQR-STUV-WXYZ"]:
        with pytest.raises(AuthenticationFailed):
            staff.begin_join(pb, bad)


@pytest.mark.parametrize(("password", "confirm", "message"), [
    ("short pass", "short pass", "a password is 12 to 128 characters"),
    ("x" * 129, "x" * 129, "a password is 12 to 128 characters"),
    ("long enough pw!", "long enough pw?", "The two passwords do not match."),
    ("joiner@acme.example", "joiner@acme.example", "not your e-mail address"),
    ("aaaaaaaaaaaaaa", "aaaaaaaaaaaaaa", "more different characters"),
])
def test_password_rules(pb, clock, org, password, confirm, message) -> None:
    invitation = staff.invite(pb, org, "joiner@acme.example", "sender")
    start = staff.begin_join(pb, invitation.code)
    with pytest.raises(InvalidInput, match=message):
        staff.accept_invite(pb, invitation.code, password, confirm,
                            code_at(start.totp_secret, clock.now().timestamp()))
    assert staff.begin_join(pb, invitation.code)  # nothing was spent


def test_join_needs_the_current_authenticator_code(pb, clock, org) -> None:
    invitation = staff.invite(pb, org, "joiner@acme.example", "sender")
    start = staff.begin_join(pb, invitation.code)
    stale = code_at(start.totp_secret, clock.now().timestamp() - 300)
    with pytest.raises(AuthenticationFailed, match="authenticator"):
        staff.accept_invite(pb, invitation.code, PASSWORD, PASSWORD, stale)
    assert staff.begin_join(pb, invitation.code)


def test_login_and_session(pb, clock, org, admin) -> None:
    signed_in = staff_sessions.login(pb, "ADA@acme.example ", PASSWORD, admin.otp())
    who = staff_sessions.resolve(pb, signed_in.token)
    assert (who.email, who.role, who.org_slug) == ("ada@acme.example", "admin", "acme")
    assert _row(pb, StaffSession, staff_id=admin.staff_id).id != signed_in.token  # a hash only
    staff_sessions.logout(pb, signed_in.token)
    with pytest.raises(SessionExpired):
        staff_sessions.resolve(pb, signed_in.token)


def test_sessions_expire_when_idle_and_absolutely(pb, clock, admin) -> None:
    token = staff_sessions.login(pb, admin.email, PASSWORD, admin.otp()).token
    clock.advance(seconds=pb.settings.session_idle_s + 1)
    with pytest.raises(SessionExpired):
        staff_sessions.resolve(pb, token)
    token = staff_sessions.login(pb, admin.email, PASSWORD, admin.otp()).token
    for _ in range(pb.settings.session_absolute_s // 300 + 1):
        clock.advance(seconds=300)
        try:
            staff_sessions.resolve(pb, token)
        except SessionExpired:
            break
    else:
        pytest.fail("the session outlived its absolute timeout")
    for junk in ["", "x", "y" * 500, None]:
        with pytest.raises(SessionExpired):
            staff_sessions.resolve(pb, junk)  # type: ignore[arg-type]


def test_role_changes_and_removal_take_effect_at_once(pb, clock, org, admin, sender) -> None:
    token = staff_sessions.login(pb, sender.email, PASSWORD, sender.otp()).token
    with pb.uow() as uow:
        uow.session.get(StaffUser, sender.staff_id).role = "compliance"
        uow.commit()
    assert staff_sessions.resolve(pb, token).role == "compliance"
    assert staff.remove_staff(pb, org, sender.staff_id, admin.staff_id) == sender.email
    with pytest.raises(SessionExpired):
        staff_sessions.resolve(pb, token)
    with pytest.raises(InvalidInput, match="your own"):
        staff.remove_staff(pb, org, admin.staff_id, admin.staff_id)
    other = make_staff(pb, clock, org, "other@acme.example", "sender")
    with pytest.raises(InvalidInput, match="at least one admin"):
        staff.remove_staff(pb, org, admin.staff_id, other.staff_id)


@pytest.mark.parametrize("wrong", ["password", "otp", "email"])
def test_every_wrong_factor_fails_alike(pb, admin, wrong) -> None:
    email = "nobody@acme.example" if wrong == "email" else admin.email
    password = "wrong password!!" if wrong == "password" else PASSWORD
    otp = "000000" if wrong == "otp" else admin.otp()
    with pytest.raises(AuthenticationFailed) as caught:
        staff_sessions.login(pb, email, password, otp)
    assert type(caught.value) is AuthenticationFailed
    assert str(caught.value) == str(AuthenticationFailed())


def test_totp_codes_are_single_use(pb, admin) -> None:
    code = admin.otp()
    staff_sessions.login(pb, admin.email, PASSWORD, code)
    with pytest.raises(AuthenticationFailed):
        staff_sessions.login(pb, admin.email, PASSWORD, code)


def test_lockout_is_progressive_and_in_the_database(pb, clock, admin) -> None:
    limit = pb.settings.login_max_failures
    for _ in range(limit - 1):
        with pytest.raises(AuthenticationFailed) as caught:
            staff_sessions.login(pb, admin.email, "wrong password!!", admin.otp())
        assert not isinstance(caught.value, AccountLocked)
    with pytest.raises(AccountLocked):
        staff_sessions.login(pb, admin.email, "wrong password!!", admin.otp())
    with pytest.raises(AccountLocked):  # even the right password waits
        staff_sessions.login(pb, admin.email, PASSWORD, admin.otp())
    assert _row(pb, StaffUser, id=admin.staff_id).locked_until is not None
    clock.advance(minutes=2)
    staff_sessions.login(pb, admin.email, PASSWORD, admin.otp())
    assert _row(pb, StaffUser, id=admin.staff_id).failed_attempts == 0


def test_unknown_addresses_lock_too_and_leave_no_trace_of_the_address(pb) -> None:
    for _ in range(pb.settings.login_max_failures - 1):
        with pytest.raises(AuthenticationFailed):
            staff_sessions.login(pb, "ghost@acme.example", "whatever password", "123456")
    with pytest.raises(AccountLocked):
        staff_sessions.login(pb, "ghost@acme.example", "whatever password", "123456")
    with pb.uow() as uow:
        keys = [row.key for row in uow.session.scalars(select(LoginThrottle))]
    assert keys and all("ghost" not in key for key in keys)


@pytest.mark.parametrize("password", ["", "x" * 2000])
def test_malformed_input_fails_without_counting(pb, admin, password) -> None:
    with pytest.raises(AuthenticationFailed):
        staff_sessions.login(pb, admin.email, password, admin.otp())
    assert _row(pb, StaffUser, id=admin.staff_id).failed_attempts == 0


def test_one_address_in_two_organisations(pb, clock, org) -> None:
    orgs.create_org(pb, "Beta Insurance", "beta")
    in_acme = make_staff(pb, clock, org, "shared@example.org", "sender",
                         password="acme password 1")
    in_beta = make_staff(pb, clock, "beta", "shared@example.org", "compliance",
                         password="beta password 2")
    who = staff_sessions.resolve(pb, staff_sessions.login(
        pb, "shared@example.org", "beta password 2", in_beta.otp()).token)
    assert (who.org_slug, who.role) == ("beta", "compliance")
    who = staff_sessions.resolve(pb, staff_sessions.login(
        pb, "shared@example.org", "acme password 1", in_acme.otp()).token)
    assert (who.org_slug, who.role) == ("acme", "sender")


def test_raised_costs_rehash_at_login(pb, admin) -> None:
    from dataclasses import replace

    cheaper = replace(pb.keys.argon2, memory_kib=pb.keys.argon2.memory_kib * 2)
    pb.keys.argon2 = cheaper
    staff_sessions.login(pb, admin.email, PASSWORD, admin.otp())
    assert f"m={cheaper.memory_kib}," in _row(pb, StaffUser, id=admin.staff_id).password_hash
    staff_sessions.login(pb, admin.email, PASSWORD, admin.otp())


def _key_file(pb, org) -> bytes:
    private = replies.init_org_keys(pb, org)
    org_id = orgs.get_org(pb, org).id
    return json.dumps({"format": "postbox-org-key/1", "org_id": org_id, "org": org,
                       "x25519_private": private.hex()}).encode()


def test_org_key_lives_only_as_long_as_the_session(pb, clock, org, sender) -> None:
    data = _key_file(pb, org)
    private = bytes.fromhex(json.loads(data)["x25519_private"])
    token = staff_sessions.login(pb, sender.email, PASSWORD, sender.otp()).token
    sealed = staff_sessions.keep_org_key(pb, token, data)
    assert private.hex() not in sealed and staff_sessions.org_key(pb, token, sealed) == private
    with pb.uow() as uow:  # the database holds nothing that is or opens to the key by itself
        for row in uow.session.scalars(select(StaffSession)):
            assert private not in row.cookie_key
    other = staff_sessions.login(pb, sender.email, PASSWORD, sender.otp()).token
    assert staff_sessions.org_key(pb, other, sealed) is None  # bound to its own session
    staff_sessions.logout(pb, token)
    assert staff_sessions.org_key(pb, token, sealed) is None
    with pb.uow() as uow:
        assert uow.session.scalar(select(StaffSession.cookie_key).where(
            StaffSession.revoked_at.is_not(None))) == b""
    assert staff_sessions.org_key(pb, other, "not base64!") is None


def test_org_key_upload_is_checked(pb, clock, org, sender) -> None:
    token = staff_sessions.login(pb, sender.email, PASSWORD, sender.otp()).token
    with pytest.raises(InvalidInput, match="current reply key"):  # no reply key yet
        staff_sessions.keep_org_key(pb, token, json.dumps({
            "org_id": orgs.get_org(pb, org).id, "x25519_private": "11" * 32}).encode())
    good = _key_file(pb, org)
    for bad in [b"", b"{}", b"not json", b"x" * 5000,
                json.dumps({"org_id": "someone-else", "x25519_private": "11" * 32}).encode(),
                json.dumps({"org_id": orgs.get_org(pb, org).id,
                            "x25519_private": "zz"}).encode(),
                good.replace(json.loads(good)["x25519_private"].encode(), b"22" * 32)]:
        with pytest.raises(InvalidInput):
            staff_sessions.keep_org_key(pb, token, bad)
    staff_sessions.keep_org_key(pb, token, good)


def test_sessions_of_one_person_are_independent(pb, admin) -> None:
    first = staff_sessions.login(pb, admin.email, PASSWORD, admin.otp()).token
    second = staff_sessions.login(pb, admin.email, PASSWORD, admin.otp()).token
    staff_sessions.logout(pb, first)
    assert staff_sessions.resolve(pb, second).email == admin.email
    assert timedelta(seconds=pb.settings.session_absolute_s) > timedelta(0)
