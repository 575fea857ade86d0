"""Activation: the letter code, then a PIN, then a confirmed TOTP, then a one-time recovery code.

The private keys move from the activation-code wrap to a PIN wrap and a recovery-code wrap;
the activation wrap is deleted, so the letter is useless afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from crypto.codes import new_recovery_code, normalise_code
from crypto.errors import OpenError
from crypto.kdf import new_salt
from crypto.keys import unwrap_private_keys, wrap_private_keys
from crypto.totp import match_step, new_totp_secret, provisioning_uri
from postbox import validation
from postbox.bootstrap import Postbox
from postbox.errors import AuthenticationFailed, InvalidInput
from postbox.models import Recipient, WrappedKey, new_id
from postbox.recipients import code_lookups

BAD_CODE = "That activation code is not valid. Check the letter and try again."


@dataclass(frozen=True)
class ActivationStart:
    recipient_id: str
    email: str
    totp_secret: str
    provisioning_uri: str


@dataclass(frozen=True)
class ActivationResult:
    recipient_id: str
    email: str
    recovery_code: str


def _invited(pb: Postbox, session, code: str) -> Recipient:  # type: ignore[no-untyped-def]
    normal = normalise_code(code)
    recipient = None
    if normal is not None:
        recipient = session.scalar(select(Recipient).where(
            Recipient.activation_lookup.in_(code_lookups(pb.keys, normal)),
            Recipient.state == "invited"))
    if recipient is None:
        raise AuthenticationFailed(BAD_CODE)
    return recipient


def begin_activation(pb: Postbox, code: str) -> ActivationStart:
    """Check the letter code and create the TOTP secret to enrol (pending until confirmed)."""
    with pb.uow() as uow:
        recipient = _invited(pb, uow.session, code)
        secret = new_totp_secret()
        recipient.totp_pending_sealed = pb.keys.seal("totp", recipient.id, secret.encode())
        uow.commit()
        return ActivationStart(recipient.id, recipient.email, secret,
                               provisioning_uri(secret, recipient.email))


def check_new_pin(pin: str, pin_confirm: str) -> str:
    if pin != pin_confirm:
        raise InvalidInput("The two PINs do not match.")
    return validation.pin(pin)


def activate(pb: Postbox, code: str, pin: str, pin_confirm: str, otp: str) -> ActivationResult:
    """Set the PIN, confirm the TOTP with a first code, and issue the recovery code."""
    pin = check_new_pin(pin, pin_confirm)
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        recipient = _invited(pb, s, code)
        if recipient.totp_pending_sealed is None:
            raise InvalidInput("Start the activation again: no authenticator is being set up.")
        secret = pb.keys.open("totp", recipient.id, recipient.totp_pending_sealed).decode()
        step = match_step(secret, otp, now=now.timestamp(), last_step=None)
        if step is None:
            raise AuthenticationFailed("That code from the authenticator app is not valid.")
        wrapped = s.scalar(select(WrappedKey).where(WrappedKey.recipient_id == recipient.id,
                                                    WrappedKey.purpose == "activation"))
        if wrapped is None:
            raise AuthenticationFailed(BAD_CODE)
        kv = wrapped.key_version
        try:
            keys = unwrap_private_keys(
                wrapped.blob,
                pb.keys.kek(normalise_code(code) or "", salt=wrapped.salt,
                            recipient_id=recipient.id, purpose="activation",
                            pepper_id=wrapped.pepper_id),
                purpose="activation", recipient_id=recipient.id, key_version=kv)
        except OpenError:
            raise AuthenticationFailed(BAD_CODE) from None
        recovery = new_recovery_code()
        s.execute(delete(WrappedKey).where(WrappedKey.recipient_id == recipient.id))
        for purpose, secret_text in (("pin", pin), ("recovery", recovery)):
            salt = new_salt()
            kek = pb.keys.kek(secret_text, salt=salt, recipient_id=recipient.id, purpose=purpose)
            s.add(WrappedKey(id=new_id(), recipient_id=recipient.id, purpose=purpose,
                             key_version=kv, salt=salt, created_at=now,
                             pepper_id=pb.keys.pepper_id,
                             blob=wrap_private_keys(keys, kek, purpose=purpose,
                                                    recipient_id=recipient.id, key_version=kv)))
        recipient.totp_secret_sealed = pb.keys.seal("totp", recipient.id, secret.encode())
        recipient.totp_pending_sealed = None
        recipient.totp_last_step = step
        recipient.state = "active"
        recipient.activated_at = now
        recipient.activation_lookup = None
        uow.commit()
        return ActivationResult(recipient.id, recipient.email, recovery)
