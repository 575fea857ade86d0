"""Staff login (e-mail, password, TOTP) and console sessions.

Every failure looks the same to the caller (a lock is said plainly, with its end), and every
attempt with a password costs one Argon2id run whether or not the address exists. Failures lock
progressively (:mod:`postbox.lockout`) on the account, or on a keyed hash of an unknown address
(``LoginThrottle``), in the database, so the lock holds across nodes. TOTP codes are single use:
the last accepted time step is kept. An address may belong to staff of several organisations;
the password and code pick the account.

A session is a random token in the browser's signed, HttpOnly session cookie; the server keeps
only its SHA-256, with the idle and absolute timeouts of ``POSTBOX_SESSION_IDLE`` /
``POSTBOX_SESSION_ABSOLUTE``, and re-reads the account and its role on every request, so
removing someone or changing their role takes effect at once.

The organisation key on the holds page: a person may upload the organisation's private reply
key to read replies in the console. The server never stores it. It is sealed (AES-256-GCM)
under ``cookie_key``, a random key in this session's row, and the sealed bytes travel in the
browser's session cookie. Either half alone opens nothing; logout or expiry destroys the row's
key, after which the cookie's copy is noise, even to someone holding the database, the master
key and an old cookie.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.errors import CryptoError, OpenError
from crypto.keys import BoxKeyPair
from crypto.passwords import hash_password, needs_rehash, verify_password
from crypto.secretbox import open_secret, seal_secret
from crypto.totp import match_step
from postbox import lockout
from postbox.bootstrap import Postbox
from postbox.errors import (
    AccountLocked,
    AuthenticationFailed,
    InvalidInput,
    SessionExpired,
)
from postbox.models import LoginThrottle, Organisation, StaffSession, StaffUser
from postbox.staff import PASSWORD_MAX, TOTP_PURPOSE

LAST_SEEN_GRANULARITY = timedelta(seconds=30)
ORG_KEY_PURPOSE = "staff-org-key"
MAX_KEY_FILE = 4096
NOT_A_KEY = "this is not an organisation key file (made by `postbox org keys init`)"


@dataclass(frozen=True, repr=False)
class StaffLogin:
    """Returned once at login; ``token`` is the browser's to keep (the server has a hash)."""

    token: str
    staff_id: str
    expires_at: datetime


@dataclass(frozen=True)
class StaffIdentity:
    """Who is signed in, read afresh for each request."""

    staff_id: str
    email: str
    role: str
    org_id: str
    org_slug: str
    org_name: str
    org_has_reply_key: bool


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _throttle(pb: Postbox, s: Session, address: str) -> LoginThrottle:
    key = hmac.new(pb.keys.seal_key("login-throttle"), b"staff\x00" + address.encode(),
                   hashlib.sha256).hexdigest()
    row = s.get(LoginThrottle, key, with_for_update=True)
    if row is None:
        row = LoginThrottle(key=key, failed_attempts=0, updated_at=pb.clock.now())
        s.add(row)
    return row


def _locked(row: StaffUser | LoginThrottle, now: datetime) -> bool:
    return row.locked_until is not None and row.locked_until > now


def _fail(pb: Postbox, s: Session, guards: list[StaffUser] | list[LoginThrottle],
          now: datetime) -> AuthenticationFailed:
    locked = [g for g in guards if lockout.register_failure(g, now, pb.settings.login_max_failures)]
    s.commit()
    if locked and len(locked) == len(guards) and locked[0].locked_until is not None:
        return AccountLocked(locked[0].locked_until.strftime("%H:%M UTC"))
    return AuthenticationFailed()


def _second_factor(pb: Postbox, user: StaffUser, otp: str, now: datetime) -> int | None:
    if user.totp_secret_sealed is None:
        return None
    try:
        secret = pb.keys.open(TOTP_PURPOSE, user.id, user.totp_secret_sealed).decode()
    except OpenError:
        return None
    return match_step(secret, otp, now=now.timestamp(), last_step=user.totp_last_step)


def login(pb: Postbox, email: str, password: str, otp: str) -> StaffLogin:
    """E-mail + password + TOTP; a new session. Malformed input fails without counting."""
    if (not isinstance(email, str) or not 0 < len(email) <= 320 or not isinstance(password, str)
            or not 0 < len(password) <= PASSWORD_MAX * 4):
        raise AuthenticationFailed()
    address = email.strip().lower()
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        candidates = list(s.scalars(select(StaffUser).where(
            StaffUser.email == address, StaffUser.password_hash.is_not(None))
            .order_by(StaffUser.id).with_for_update()))
        if not candidates:
            guard = _throttle(pb, s, address)
            lockout.ensure_unlocked(guard, now)
            hash_password(password, pb.keys.argon2)  # the same cost as checking a real one
            raise _fail(pb, s, [guard], now)
        unlocked = [u for u in candidates if not _locked(u, now)]
        if not unlocked:
            lockout.ensure_unlocked(min(candidates, key=lambda u: u.locked_until or now), now)
        user = next((u for u in unlocked
                     if verify_password(password, u.password_hash or "")), None)
        step = _second_factor(pb, user, otp, now) if user is not None else None
        if user is None or step is None:
            raise _fail(pb, s, [user] if user is not None else unlocked, now)
        lockout.register_success(user)
        user.totp_last_step = step
        if needs_rehash(user.password_hash or "", pb.keys.argon2):  # costs were raised
            user.password_hash = hash_password(password, pb.keys.argon2)
        token = secrets.token_urlsafe(32)
        expires = now + timedelta(seconds=pb.settings.session_absolute_s)
        s.add(StaffSession(id=_hash(token), staff_id=user.id, cookie_key=secrets.token_bytes(32),
                           totp_step=step, created_at=now, last_seen_at=now, expires_at=expires))
        uow.commit()
        return StaffLogin(token, user.id, expires)


def _live(pb: Postbox, s: Session, token: str, now: datetime) -> StaffSession:
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise SessionExpired()
    row = s.get(StaffSession, _hash(token))
    idle = timedelta(seconds=pb.settings.session_idle_s)
    if (row is None or row.revoked_at is not None or row.expires_at <= now
            or row.last_seen_at + idle <= now or not row.cookie_key):
        raise SessionExpired()
    return row


def resolve(pb: Postbox, token: str) -> StaffIdentity:
    """The signed-in staff member for ``token``; refreshes the idle timer."""
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        row = _live(pb, s, token, now)
        user = s.get(StaffUser, row.staff_id)
        org = s.get(Organisation, user.org_id) if user is not None else None
        if user is None or org is None:
            raise SessionExpired()
        identity = StaffIdentity(user.id, user.email, user.role, org.id, org.slug, org.name,
                                 org.reply_public_key is not None)
        if now - row.last_seen_at >= LAST_SEEN_GRANULARITY:  # spare a write per request
            row.last_seen_at = now
            uow.commit()
        return identity


def logout(pb: Postbox, token: str) -> None:
    """End the session; its cookie key is destroyed, so whatever the cookie sealed is gone."""
    if not isinstance(token, str) or len(token) > 100:
        return
    with pb.uow() as uow:
        row = uow.session.get(StaffSession, _hash(token))
        if row is not None:
            row.revoked_at, row.cookie_key = row.revoked_at or pb.clock.now(), b""
        uow.commit()


def _key_from_file(data: bytes) -> tuple[str, bytes]:
    if not isinstance(data, bytes) or not 0 < len(data) <= MAX_KEY_FILE:
        raise InvalidInput(NOT_A_KEY)
    try:
        parsed = json.loads(data)
        org_id, private = parsed["org_id"], bytes.fromhex(parsed["x25519_private"])
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(NOT_A_KEY) from None
    if not isinstance(org_id, str) or len(private) != 32:
        raise InvalidInput(NOT_A_KEY)
    return org_id, private


def keep_org_key(pb: Postbox, token: str, key_file: bytes) -> str:
    """Check an uploaded organisation key file and seal its key for this session's cookie."""
    org_id, private = _key_from_file(key_file)
    with pb.uow() as uow:
        s = uow.session
        row = _live(pb, s, token, pb.clock.now())
        user = s.get(StaffUser, row.staff_id)
        org = s.get(Organisation, user.org_id) if user is not None else None
        if org is None:
            raise SessionExpired()
        if org_id != org.id:
            raise InvalidInput("this key file belongs to another organisation")
        try:
            public = BoxKeyPair.from_bytes(private).public_bytes()
        except CryptoError:
            raise InvalidInput(NOT_A_KEY) from None
        if org.reply_public_key is None or not hmac.compare_digest(public,
                                                                   org.reply_public_key):
            raise InvalidInput("this is not the organisation's current reply key")
        sealed = seal_secret(row.cookie_key, ORG_KEY_PURPOSE, row.id, private)
    return base64.urlsafe_b64encode(sealed).decode()


def org_key(pb: Postbox, token: str, sealed: str) -> bytes | None:
    """The organisation key this session's cookie carries, or None (gone, foreign, expired)."""
    try:
        raw = base64.urlsafe_b64decode(sealed)
    except (binascii.Error, ValueError, TypeError):
        return None
    with pb.uow() as uow:
        try:
            row = _live(pb, uow.session, token, pb.clock.now())
            return open_secret(row.cookie_key, ORG_KEY_PURPOSE, row.id, raw)
        except (SessionExpired, OpenError):
            return None
