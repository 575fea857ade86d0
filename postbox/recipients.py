"""Recipients: invitation (one postbox per person, linked across organisations) and reachability."""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto.codes import new_activation_code
from crypto.kdf import new_salt
from crypto.keys import RecipientKeyPair, wrap_private_keys
from postbox import validation
from postbox.bootstrap import Postbox
from postbox.errors import Conflict, UnknownRecipient
from postbox.keyring import KeyRing
from postbox.models import Recipient, RecipientLink, WrappedKey, new_id
from postbox.orgs import find_org

# "bouncing": linked, but notice e-mails to the address were refused (SMTP 5xx).
REACHABILITY = ("active", "invited", "bouncing", "unknown")


@dataclass(frozen=True)
class Invitation:
    recipient_id: str
    external_id: str
    email: str
    activation_code: str | None  # None when an already activated postbox was linked
    linked_existing: bool


def code_lookup(keys: KeyRing, code: str) -> str:
    """A keyed hash that finds the recipient a letter code belongs to (HMAC under the pepper)."""
    return code_lookups(keys, code)[0]


def code_lookups(keys: KeyRing, code: str) -> list[str]:
    """The lookup under the current master key first, then under any retired one."""
    return [hmac.new(k, code.encode(), hashlib.sha256).hexdigest()
            for k in keys.lookup_keys("activation-lookup")]


def _new_postbox(pb: Postbox, session: Session, email: str) -> tuple[Recipient, str]:
    keys = RecipientKeyPair.generate()
    public = keys.public()
    now = pb.clock.now()
    recipient = Recipient(id=new_id(), email=email, state="invited", key_version=1,
                          x25519_public=public.x25519, ed25519_public=public.ed25519,
                          created_at=now)
    code = new_activation_code()
    salt = new_salt()
    kek = pb.keys.kek(code, salt=salt, recipient_id=recipient.id, purpose="activation")
    recipient.activation_lookup = code_lookup(pb.keys, code)
    session.add(recipient)
    session.add(WrappedKey(id=new_id(), recipient_id=recipient.id, purpose="activation",
                           key_version=1, salt=salt, created_at=now,
                           pepper_id=pb.keys.pepper_id,
                           blob=wrap_private_keys(keys, kek, purpose="activation",
                                                  recipient_id=recipient.id, key_version=1)))
    return recipient, code


def invite_recipient(pb: Postbox, org_ref: str, external_id: str, email: str) -> Invitation:
    """Create a postbox (keys wrapped under a fresh activation code) or link the existing one."""
    external_id = validation.external_id(external_id)
    email = validation.email(email)
    with pb.uow() as uow:
        s = uow.session
        org = find_org(s, org_ref)
        if s.scalar(select(RecipientLink.id).where(RecipientLink.org_id == org.id,
                                                   RecipientLink.external_id == external_id)):
            raise Conflict(f"{external_id!r} is already invited by this organisation")
        existing = s.scalar(select(Recipient).where(Recipient.email == email)
                            .order_by(Recipient.created_at))
        code = None
        if existing is None:
            recipient, code = _new_postbox(pb, s, email)
        else:
            recipient = existing
        s.add(RecipientLink(id=new_id(), org_id=org.id, recipient_id=recipient.id,
                            external_id=external_id, created_at=pb.clock.now()))
        try:
            uow.commit()
        except IntegrityError:
            raise Conflict(f"{external_id!r} is already invited by this organisation") from None
        return Invitation(recipient.id, external_id, email, code, existing is not None)


def find_linked(session: Session, org_id: str, external_id: str) -> Recipient:
    recipient = session.scalar(
        select(Recipient).join(RecipientLink, RecipientLink.recipient_id == Recipient.id)
        .where(RecipientLink.org_id == org_id, RecipientLink.external_id == external_id))
    if recipient is None:
        raise UnknownRecipient(f"no recipient {external_id!r} for this organisation")
    return recipient


def reachability(pb: Postbox, org_ref: str, external_id: str) -> str:
    """``active``, ``invited`` (no activation yet), ``bouncing`` (notice e-mails refused) or
    ``unknown``, as this organisation sees it."""
    return reachability_many(pb, org_ref, [external_id])[external_id]


def reachability_many(pb: Postbox, org_ref: str, external_ids: list[str]) -> dict[str, str]:
    wanted = set(external_ids)
    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        rows = uow.session.execute(
            select(RecipientLink.external_id, Recipient.state, Recipient.email_bouncing)
            .join(Recipient, Recipient.id == RecipientLink.recipient_id)
            .where(RecipientLink.org_id == org.id, RecipientLink.external_id.in_(wanted)))
        found = {ext: "bouncing" if bouncing else state for ext, state, bouncing in rows}
    return {ext: found.get(ext, "unknown") for ext in external_ids}
