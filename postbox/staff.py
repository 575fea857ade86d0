"""Staff of a sending organisation: invitations, joining, the staff list, and the role table.

An admin (in the console, or the operator with ``postbox org user add``) invites a person by
e-mail and role. The invitation is a one-time code (120 bits, kept only as its SHA-256, valid
for :data:`INVITE_DAYS` days) that travels in a link. Joining sets a password (Argon2id PHC
string, :mod:`crypto.passwords`) and an authenticator (TOTP; the secret is sealed with purpose
``staff-totp``, which key rotation re-seals), confirmed by a first code so a mistyped secret
cannot lock anyone out. Logging in lives in :mod:`postbox.staff_sessions`.

Roles (issue 9): ``admin`` runs the console (staff, tokens, webhooks, settings) and may also
send and handle holds; ``sender`` works with batches and holds; ``compliance`` searches and
exports, read-only. :data:`AREAS` is the one table; the web edge asks :func:`may`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto.codes import new_recovery_code, normalise_code
from crypto.errors import OpenError
from crypto.passwords import hash_password
from crypto.totp import match_step, new_totp_secret, provisioning_uri
from postbox import validation
from postbox.bootstrap import Postbox
from postbox.config import Settings
from postbox.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound
from postbox.models import ROLES, StaffInvite, StaffSession, StaffUser, new_id
from postbox.orgs import find_org

INVITE_DAYS = 7
PASSWORD_MIN, PASSWORD_MAX = 12, 128
TOTP_PURPOSE = "staff-totp"
BAD_INVITE = "This invitation is not valid: it was used, withdrawn or has expired."
BAD_OTP = "That code from the authenticator app is not valid."
ALL = frozenset(ROLES)
# area -> roles that may enter it. Reading batches is open to every role (as in the API).
AREAS: dict[str, frozenset[str]] = {
    "overview": ALL,
    "batches": ALL,
    "send": frozenset({"admin", "sender"}),
    "holds": frozenset({"admin", "sender"}),
    "compliance": frozenset({"compliance"}),
    "settings": frozenset({"admin"}),
}


@dataclass(frozen=True)
class Invitation:
    """A new invitation; ``code`` exists in clear only in this value."""

    invite_id: str
    email: str
    role: str
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class JoinStart:
    email: str
    org_name: str
    role: str
    totp_secret: str
    provisioning_uri: str


@dataclass(frozen=True)
class StaffView:
    id: str
    email: str
    role: str
    created_at: datetime
    locked_until: datetime | None


@dataclass(frozen=True)
class InviteView:
    id: str
    email: str
    role: str
    invited_by: str | None
    created_at: datetime
    expires_at: datetime


def may(role: str, area: str) -> bool:
    """Whether a staff member with ``role`` may use ``area`` of the console."""
    return role in AREAS.get(area, frozenset())


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def invite_link(settings: Settings, code: str) -> str:
    """The link a new staff member opens to join (the code is single use)."""
    return f"{settings.public_url.rstrip('/')}/org/join?code={code}"


def _role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    return role


def invite(pb: Postbox, org_ref: str, email: str, role: str,
           invited_by: str | None = None) -> Invitation:
    """Invite ``email`` as ``role``; an earlier open invitation for the address is withdrawn."""
    email, role = validation.email(email), _role(role)
    now = pb.clock.now()
    code = new_recovery_code()
    with pb.uow() as uow:
        s = uow.session
        org = find_org(s, org_ref)
        if s.scalar(select(StaffUser.id).where(StaffUser.org_id == org.id,
                                               StaffUser.email == email)):
            raise Conflict("this person already has an account in this organisation")
        s.execute(update(StaffInvite).where(StaffInvite.org_id == org.id,
                                            StaffInvite.email == email,
                                            StaffInvite.used_at.is_(None),
                                            StaffInvite.revoked_at.is_(None))
                  .values(revoked_at=now))
        row = StaffInvite(id=new_id(), org_id=org.id, email=email, role=role,
                          code_hash=_code_hash(code), invited_by=invited_by, created_at=now,
                          expires_at=now + timedelta(days=INVITE_DAYS))
        s.add(row)
        uow.commit()
        return Invitation(row.id, email, role, code, row.expires_at)


def _open_invite(s: Session, code: str, now: datetime) -> StaffInvite:
    canonical = normalise_code(code)
    row = None if canonical is None else s.scalar(
        select(StaffInvite).where(StaffInvite.code_hash == _code_hash(canonical))
        .with_for_update())
    if row is None or row.used_at or row.revoked_at or row.expires_at <= now:
        raise AuthenticationFailed(BAD_INVITE)
    return row


def _pending_secret(pb: Postbox, row: StaffInvite) -> str | None:
    if row.totp_pending_sealed is None:
        return None
    try:
        return pb.keys.open(TOTP_PURPOSE, row.id, row.totp_pending_sealed).decode()
    except OpenError:  # sealed under a master key that has since gone: offer a new one
        return None


def begin_join(pb: Postbox, code: str) -> JoinStart:
    """Check the invitation and offer an authenticator secret (pending until confirmed; the
    same one on every visit, so a person who scanned it and mistyped a code need not rescan)."""
    with pb.uow() as uow:
        row = _open_invite(uow.session, code, pb.clock.now())
        secret = _pending_secret(pb, row)
        if secret is None:
            secret = new_totp_secret()
            row.totp_pending_sealed = pb.keys.seal(TOTP_PURPOSE, row.id, secret.encode())
        org_name = find_org(uow.session, row.org_id).name
        uow.commit()
        return JoinStart(row.email, org_name, row.role, secret,
                         provisioning_uri(secret, row.email, issuer=f"Postbox {org_name}"[:60]))


def check_password(password: str, confirm: str, email: str) -> str:
    """A new password: the same twice, 12 to 128 characters, not the e-mail address."""
    if not isinstance(password, str) or password != confirm:
        raise InvalidInput("The two passwords do not match.")
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidInput(f"a password is {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    if password.strip().lower() in (email.lower(), email.split("@")[0].lower()):
        raise InvalidInput("choose a password that is not your e-mail address")
    if len(set(password)) < 4:
        raise InvalidInput("choose a password with more different characters")
    return password


def accept_invite(pb: Postbox, code: str, password: str, password_confirm: str,
                  otp: str) -> StaffView:
    """Join: set the password, confirm the authenticator with a first code; the code is spent."""
    with pb.uow() as uow:
        email = _open_invite(uow.session, code, pb.clock.now()).email
    check_password(password, password_confirm, email)
    encoded = hash_password(password, pb.keys.argon2)  # outside the transaction: it is slow
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        row = _open_invite(s, code, now)
        secret = _pending_secret(pb, row)
        if secret is None:
            raise InvalidInput("Start setting up the new authenticator again.")
        step = match_step(secret, otp, now=now.timestamp(), last_step=None)
        if step is None:
            raise AuthenticationFailed(BAD_OTP)
        staff_id = new_id()
        user = StaffUser(id=staff_id, org_id=row.org_id, email=row.email, role=row.role,
                         password_hash=encoded, totp_last_step=step, failed_attempts=0,
                         totp_secret_sealed=pb.keys.seal(TOTP_PURPOSE, staff_id, secret.encode()),
                         created_at=now)
        row.used_at, row.totp_pending_sealed = now, None
        s.add(user)
        try:
            uow.commit()
        except IntegrityError:
            raise Conflict("this person already has an account in this organisation") from None
        return StaffView(user.id, user.email, user.role, user.created_at, None)


def list_staff(pb: Postbox, org_ref: str) -> list[StaffView]:
    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        now = pb.clock.now()
        return [StaffView(u.id, u.email, u.role, u.created_at,
                          u.locked_until if u.locked_until and u.locked_until > now else None)
                for u in uow.session.scalars(select(StaffUser).where(StaffUser.org_id == org.id)
                                             .order_by(StaffUser.email))]


def list_invites(pb: Postbox, org_ref: str) -> list[InviteView]:
    """Invitations not yet used, withdrawn or expired."""
    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        rows = uow.session.scalars(select(StaffInvite).where(
            StaffInvite.org_id == org.id, StaffInvite.used_at.is_(None),
            StaffInvite.revoked_at.is_(None), StaffInvite.expires_at > pb.clock.now())
            .order_by(StaffInvite.created_at))
        return [InviteView(r.id, r.email, r.role, r.invited_by, r.created_at, r.expires_at)
                for r in rows]


def revoke_invite(pb: Postbox, org_ref: str, invite_id: str) -> None:
    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        row = uow.session.scalar(select(StaffInvite).where(StaffInvite.id == invite_id,
                                                           StaffInvite.org_id == org.id,
                                                           StaffInvite.used_at.is_(None)))
        if row is None:
            raise NotFound("no such invitation")
        row.revoked_at = row.revoked_at or pb.clock.now()
        uow.commit()


def remove_staff(pb: Postbox, org_ref: str, staff_id: str, acting_staff_id: str) -> str:
    """Remove a staff member and end their sessions; returns their e-mail. Nobody removes
    themselves, and the last admin stays."""
    if staff_id == acting_staff_id:
        raise InvalidInput("you cannot remove your own account")
    with pb.uow() as uow:
        s = uow.session
        org = find_org(s, org_ref)
        user = s.scalar(select(StaffUser).where(StaffUser.id == staff_id,
                                                StaffUser.org_id == org.id).with_for_update())
        if user is None:
            raise NotFound("no such staff member")
        admins = s.scalar(select(func.count()).select_from(StaffUser).where(
            StaffUser.org_id == org.id, StaffUser.role == "admin")) or 0
        if user.role == "admin" and admins <= 1:
            raise InvalidInput("an organisation keeps at least one admin")
        email = user.email
        s.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))
        s.delete(user)
        uow.commit()
        return email
