"""Authentication: PIN + TOTP unlocks the vault; recovery code + TOTP resets the PIN.

A successful login unwraps the private keys and re-wraps them under a random session key that
only the caller holds (DESIGN.md, "Unlock"): the server keeps the re-wrapped blob, so its state
alone decrypts nothing. Every failure looks the same to the caller; lockouts live in the DB.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crypto.codes import new_recovery_code, normalise_code
from crypto.errors import OpenError
from crypto.kdf import new_salt
from crypto.keys import RecipientKeyPair, new_session_key, unwrap_private_keys, wrap_private_keys
from crypto.totp import match_step
from postbox import lockout
from postbox.activation import check_new_pin
from postbox.bootstrap import Postbox
from postbox.errors import AccountLocked, AuthenticationFailed, DatabaseProblem, SessionExpired
from postbox.models import LoginThrottle, Recipient, RecipientLink, VaultSession, WrappedKey, new_id

log = logging.getLogger("postbox.auth")
_PIN_SHAPE = re.compile(r"[0-9]{6,12}")
_DUMMY_SALT = bytes(16)
_DUMMY_ID = "0" * 32
# The idle timer moves in steps of this size, so most requests only read their session.
LAST_SEEN_GRANULARITY = timedelta(seconds=30)


@dataclass(frozen=True, repr=False)
class UnlockedSession:
    """Returned once at login. ``token`` is the client's to keep; the server has only a hash."""

    token: str
    recipient_id: str
    expires_at: datetime


@dataclass(frozen=True, repr=False)
class Vault:
    """An unlocked postbox for the length of one request."""

    recipient_id: str
    keys: RecipientKeyPair = field(repr=False)
    session_hash: str
    key_version: int
    auth: dict[str, Any]

    def __repr__(self) -> str:
        return f"Vault(recipient_id={self.recipient_id!r})"


def _find(session: Session, identifier: str) -> Recipient | None:
    """An active recipient by e-mail, or by an external id that names exactly one person."""
    if not isinstance(identifier, str) or not 0 < len(identifier) <= 320:
        return None
    ident = identifier.strip()
    if "@" in ident:
        return session.scalar(select(Recipient).where(Recipient.email == ident.lower(),
                                                      Recipient.state == "active")
                              .with_for_update())
    ids = set(session.scalars(select(RecipientLink.recipient_id)
                              .where(RecipientLink.external_id == ident)))
    if len(ids) != 1:
        return None
    return session.scalar(select(Recipient).where(Recipient.id == ids.pop(),
                                                  Recipient.state == "active").with_for_update())


def _throttle(pb: Postbox, session: Session, identifier: str) -> LoginThrottle:
    key = hmac.new(pb.keys.seal_key("login-throttle"), identifier.strip().lower().encode(),
                   hashlib.sha256).hexdigest()
    row = session.get(LoginThrottle, key, with_for_update=True)
    if row is None:
        row = LoginThrottle(key=key, failed_attempts=0, updated_at=pb.clock.now())
        session.add(row)
    return row


@dataclass(frozen=True, repr=False)
class _Wrap:
    """What the expensive check needs, read before the transaction ends (it runs without one)."""

    recipient_id: str
    key_version: int
    blob: bytes
    salt: bytes
    pepper_id: str | None
    totp_sealed: bytes | None
    totp_last_step: int | None


def _wrap_of(session: Session, recipient: Recipient, purpose: str) -> _Wrap | None:
    wrapped = session.scalar(select(WrappedKey).where(
        WrappedKey.recipient_id == recipient.id, WrappedKey.purpose == purpose,
        WrappedKey.key_version == recipient.key_version))
    if wrapped is None:
        return None
    return _Wrap(recipient.id, wrapped.key_version, bytes(wrapped.blob), bytes(wrapped.salt),
                 wrapped.pepper_id, recipient.totp_secret_sealed, recipient.totp_last_step)


def _unwrap(pb: Postbox, wrap: _Wrap, purpose: str, secret: str) -> RecipientKeyPair | None:
    """The keys, if ``secret`` opens the wrap (Argon2id: run with no transaction open)."""
    try:
        kek = pb.keys.kek(secret, salt=wrap.salt, recipient_id=wrap.recipient_id,
                          purpose=purpose, pepper_id=wrap.pepper_id)
        return unwrap_private_keys(wrap.blob, kek, purpose=purpose,
                                   recipient_id=wrap.recipient_id, key_version=wrap.key_version)
    except OpenError:
        return None


def _second_factor(pb: Postbox, wrap: _Wrap, otp: str, now: datetime) -> int | None:
    if wrap.totp_sealed is None:
        return None
    secret = pb.keys.open("totp", wrap.recipient_id, wrap.totp_sealed).decode()
    return match_step(secret, otp, now=now.timestamp(), last_step=wrap.totp_last_step)


def _check_factors(pb: Postbox, session: Session, identifier: str, secret: str, otp: str,
                   purpose: str) -> tuple[Recipient, RecipientKeyPair, int]:
    """Both factors or nothing; counts failures against the account (or the identifier).

    The attempt is charged as a failure and committed BEFORE the Argon2 derivation, which then
    runs with no transaction open: on SQLite no instance-wide write lock is held for it, and on
    PostgreSQL no row lock. Charging first keeps the bound under concurrency (at most
    ``login_max_failures`` checks per lock window reach Argon2); a success refunds it, under
    the row lock again, where the TOTP step is also taken (so a concurrent replay fails).
    """
    now = pb.clock.now()
    recipient = _find(session, identifier)
    guard: Recipient | LoginThrottle = recipient or _throttle(pb, session, identifier)
    lockout.ensure_unlocked(guard, now)
    locked = lockout.register_failure(guard, now, pb.settings.login_max_failures)
    locked_until = guard.locked_until
    wrap = _wrap_of(session, recipient, purpose) if recipient is not None else None
    session.commit()

    keys, step = None, None
    if wrap is not None:
        keys = _unwrap(pb, wrap, purpose, secret)
        step = _second_factor(pb, wrap, otp, now)
    else:  # the same work for an unknown identifier or a missing wrap
        pb.keys.kek(secret or "0", salt=_DUMMY_SALT, recipient_id=_DUMMY_ID, purpose=purpose)
    fresh = None
    if keys is not None and step is not None and wrap is not None:
        fresh = session.scalar(select(Recipient).where(
            Recipient.id == wrap.recipient_id, Recipient.state == "active")
            .with_for_update().execution_options(populate_existing=True))
        if fresh is not None and fresh.totp_last_step is not None and \
                step <= fresh.totp_last_step:
            fresh = None  # the same code won a concurrent login meanwhile: a replay
    if fresh is None or keys is None or step is None:
        # No identifier in the log: it is personal data and attacker-controlled text.
        log.info("login failed (%s)%s", purpose, "; account locked" if locked else "")
        if locked and locked_until is not None:
            raise AccountLocked(locked_until.strftime("%H:%M UTC"))
        raise AuthenticationFailed()
    lockout.register_success(fresh)
    fresh.totp_last_step = step
    if wrap is not None and wrap.pepper_id not in (None, pb.keys.pepper_id):
        _rewrap(pb, session, fresh, keys, purpose, secret)  # after a master-key rotation
    return fresh, keys, step


def confirm_factors(pb: Postbox, session: Session, identifier: str, pin: str,
                    otp: str) -> tuple[Recipient, RecipientKeyPair, int]:
    """A fresh PIN + TOTP check exactly like the login's (lockout, dummy work, TOTP step taken
    once), for steps that want the person again, such as exporting the whole postbox."""
    return _check_factors(pb, session, identifier, pin, otp, "pin")


def _open_session(pb: Postbox, session: Session, recipient: Recipient, keys: RecipientKeyPair,
                  step: int, methods: str) -> UnlockedSession:
    now = pb.clock.now()
    session_id = secrets.token_urlsafe(32)
    session_key = new_session_key()
    expires = now + timedelta(seconds=pb.settings.session_absolute_s)
    session.add(VaultSession(
        id=hashlib.sha256(session_id.encode()).hexdigest(), recipient_id=recipient.id,
        sealed_keys=wrap_private_keys(keys, session_key, purpose="session",
                                      recipient_id=recipient.id, key_version=recipient.key_version),
        auth_methods=methods, totp_step=step, created_at=now, last_seen_at=now, expires_at=expires))
    token = f"{session_id}.{base64.urlsafe_b64encode(session_key).decode().rstrip('=')}"
    return UnlockedSession(token=token, recipient_id=recipient.id, expires_at=expires)


def authenticate(pb: Postbox, identifier: str, pin: str, otp: str) -> UnlockedSession:
    """PIN + TOTP login; returns the vault token. Malformed input fails without counting."""
    if not isinstance(pin, str) or not _PIN_SHAPE.fullmatch(pin):
        raise AuthenticationFailed()
    with pb.uow() as uow:
        recipient, keys, step = _check_factors(pb, uow.session, identifier, pin, otp, "pin")
        unlocked = _open_session(pb, uow.session, recipient, keys, step, "pin+totp")
        uow.commit()
        return unlocked


def _parse_token(token: str) -> tuple[str, bytes]:
    try:
        session_id, key_b64 = token.split(".", 1)
        key = base64.urlsafe_b64decode(key_b64 + "=" * (-len(key_b64) % 4))
    except (ValueError, AttributeError, binascii.Error):
        raise SessionExpired() from None
    if len(key) != 32 or not session_id or len(session_id) > 100:
        raise SessionExpired()
    return session_id, key


def unlock(pb: Postbox, token: str) -> Vault:
    """The vault for a token, if its session is live; refreshes the idle timer."""
    session_id, key = _parse_token(token)
    now = pb.clock.now()
    with pb.uow() as uow:
        row = uow.session.get(VaultSession, hashlib.sha256(session_id.encode()).hexdigest())
        idle = timedelta(seconds=pb.settings.session_idle_s)
        if (row is None or row.revoked_at is not None or row.expires_at <= now
                or row.last_seen_at + idle <= now):
            raise SessionExpired()
        key_version = uow.session.scalar(select(Recipient.key_version)
                                         .where(Recipient.id == row.recipient_id)) or 1
        try:
            keys = unwrap_private_keys(row.sealed_keys, key, purpose="session",
                                       recipient_id=row.recipient_id, key_version=key_version)
        except OpenError:
            raise SessionExpired() from None
        auth = {"methods": row.auth_methods.split("+"), "totp_step": row.totp_step,
                "session": row.id[:16]}
        vault = Vault(row.recipient_id, keys, row.id, key_version, auth)
        if now - row.last_seen_at >= LAST_SEEN_GRANULARITY:  # spare a write per request
            row.last_seen_at = now
            try:
                uow.commit()
            except DatabaseProblem:  # a full disk must not lock readers out; retry next time
                log.warning("could not refresh a session's idle timer: database unavailable")
        return vault


def logout(pb: Postbox, token: str) -> None:
    """End one session; the server-side blob is destroyed, not just flagged."""
    try:
        session_id, _ = _parse_token(token)
    except SessionExpired:
        return
    with pb.uow() as uow:
        row = uow.session.get(VaultSession, hashlib.sha256(session_id.encode()).hexdigest())
        if row is not None:
            row.revoked_at = pb.clock.now()
            row.sealed_keys = b""
        uow.commit()


def logout_everywhere(pb: Postbox, vault: Vault) -> int:
    with pb.uow() as uow:
        result = uow.session.execute(
            update(VaultSession).where(VaultSession.recipient_id == vault.recipient_id,
                                       VaultSession.revoked_at.is_(None))
            .values(revoked_at=pb.clock.now(), sealed_keys=b""))
        uow.commit()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _rewrap(pb: Postbox, session: Session, recipient: Recipient, keys: RecipientKeyPair,
            purpose: str, secret: str) -> None:
    salt = new_salt()
    kek = pb.keys.kek(secret, salt=salt, recipient_id=recipient.id, purpose=purpose)
    row = session.scalar(select(WrappedKey).where(
        WrappedKey.recipient_id == recipient.id, WrappedKey.purpose == purpose,
        WrappedKey.key_version == recipient.key_version))
    blob = wrap_private_keys(keys, kek, purpose=purpose, recipient_id=recipient.id,
                             key_version=recipient.key_version)
    if row is None:
        session.add(WrappedKey(id=new_id(), recipient_id=recipient.id, purpose=purpose,
                               key_version=recipient.key_version, salt=salt, blob=blob,
                               pepper_id=pb.keys.pepper_id, created_at=pb.clock.now()))
    else:
        row.salt, row.blob, row.pepper_id = salt, blob, pb.keys.pepper_id


def recover(pb: Postbox, identifier: str, recovery_code: str, new_pin: str, otp: str) -> str:
    """Set a new PIN with the recovery code + TOTP; returns the next recovery code.

    Only the key wraps change, so every document stays readable.
    """
    new_pin = check_new_pin(new_pin, new_pin)
    code = normalise_code(recovery_code)
    if code is None:
        raise AuthenticationFailed()
    with pb.uow() as uow:
        recipient, keys, _ = _check_factors(pb, uow.session, identifier, code, otp, "recovery")
        next_code = new_recovery_code()
        _rewrap(pb, uow.session, recipient, keys, "pin", new_pin)
        _rewrap(pb, uow.session, recipient, keys, "recovery", next_code)
        uow.commit()
        return next_code


def change_pin(pb: Postbox, vault: Vault, current_pin: str, otp: str, new_pin: str,
               new_pin_confirm: str) -> None:
    """Re-wrap the keys under a new PIN; needs the current PIN and a fresh OTP."""
    new_pin = check_new_pin(new_pin, new_pin_confirm)
    if not _PIN_SHAPE.fullmatch(current_pin or ""):
        raise AuthenticationFailed()
    with pb.uow() as uow:
        recipient = uow.session.get(Recipient, vault.recipient_id)
        if recipient is None:
            raise SessionExpired()
        _, keys, _ = _check_factors(pb, uow.session, recipient.email, current_pin, otp, "pin")
        _rewrap(pb, uow.session, recipient, keys, "pin", new_pin)
        uow.commit()
