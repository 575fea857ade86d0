"""Delegation grants (power of attorney): grant, accept, decline, revoke, list, and the access
check every delegate request goes through.

An owner grants another activated recipient (named by e-mail or external id) access to all
their documents or one organisation's, read-only or read-and-reply, until an expiry date. The
grant counts once the delegate accepts. Revocation and expiry take effect at once: the access
check refuses (as "not found") and the delegate's stanzas are deleted, so the data keys they
held are gone too. Key material lives in postbox/delegation_keys.py; a delegate's reading in
postbox/delegation_reading.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from postbox import validation
from postbox.auth import Vault
from postbox.bootstrap import Postbox
from postbox.errors import Conflict, InvalidInput, NotFound
from postbox.models import (
    DelegateStanza,
    DelegationGrant,
    Organisation,
    Recipient,
    RecipientLink,
    new_id,
)
from postbox.orgs import find_org
from postbox.recipients import find_linked

SCOPES = ("read", "reply")
MAX_DAYS = 3 * 366
LIVE = ("pending", "active")


@dataclass(frozen=True)
class GrantView:
    id: str
    owner_id: str
    owner_email: str
    delegate_id: str
    delegate_email: str
    org_id: str | None
    org_name: str | None  # None: every organisation
    scope: str
    state: str  # pending, active, declined, revoked, expired
    expires_at: datetime
    rewrapped: bool


def _find_delegate(session: Session, identifier: str) -> Recipient | None:
    """An activated recipient by e-mail, or by an external id that names exactly one person."""
    ident = (identifier or "").strip()
    if not 0 < len(ident) <= 320:
        return None
    if "@" in ident:
        return session.scalar(select(Recipient).where(Recipient.email == ident.lower(),
                                                      Recipient.state == "active"))
    ids = set(session.scalars(select(RecipientLink.recipient_id)
                              .where(RecipientLink.external_id == ident)))
    if len(ids) != 1:
        return None
    return session.scalar(select(Recipient).where(Recipient.id == ids.pop(),
                                                  Recipient.state == "active"))


def _expiry(value: date | str, now: datetime) -> datetime:
    """The end of the given day (UTC); from today up to three years ahead."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput("give the expiry date as YYYY-MM-DD") from None
    if not isinstance(value, date):
        raise InvalidInput("give the expiry date as YYYY-MM-DD")
    end = datetime.combine(value, time.max, tzinfo=UTC)
    if end <= now:
        raise InvalidInput("the expiry date must be today or later")
    if end > now + timedelta(days=MAX_DAYS):
        raise InvalidInput("a delegation can last at most three years")
    return end


def _end(session: Session, grant: DelegationGrant, state: str, now: datetime) -> None:
    """Revoked, declined or expired: the grant stops and its stanzas (keys) are deleted."""
    grant.state, grant.ended_at = state, now
    session.execute(delete(DelegateStanza).where(DelegateStanza.grant_id == grant.id))


def expire_due(session: Session, now: datetime, *, recipient_id: str | None = None) -> int:
    """End every live grant whose expiry passed (optionally only those touching a recipient)."""
    query = select(DelegationGrant).where(DelegationGrant.state.in_(LIVE),
                                          DelegationGrant.expires_at <= now)
    if recipient_id is not None:
        query = query.where(or_(DelegationGrant.owner_id == recipient_id,
                                DelegationGrant.delegate_id == recipient_id))
    due = list(session.scalars(query.with_for_update()))
    for grant in due:
        _end(session, grant, "expired", now)
    return len(due)


def grant(pb: Postbox, vault: Vault, delegate: str, expires_on: date | str, *,
          org: str | None = None, scope: str = "read") -> GrantView:
    """Offer ``delegate`` access; it counts once they accept. ``org`` is a slug (None: all)."""
    now = pb.clock.now()
    if scope not in SCOPES:
        raise InvalidInput("choose read-only or read and reply")
    expires_at = _expiry(expires_on, now)
    with pb.uow() as uow:
        s = uow.session
        other = _find_delegate(s, delegate)
        if other is None:
            raise NotFound("no activated postbox matches that e-mail address or customer number")
        if other.id == vault.recipient_id:
            raise InvalidInput("you cannot grant access to yourself")
        org_id = None
        if org:
            found = s.scalar(select(Organisation).where(or_(Organisation.slug == org,
                                                            Organisation.id == org)))
            if found is None:
                raise NotFound("no such organisation")
            org_id = found.id
        expire_due(s, now, recipient_id=vault.recipient_id)
        clash = s.scalar(select(DelegationGrant.id).where(
            DelegationGrant.owner_id == vault.recipient_id,
            DelegationGrant.delegate_id == other.id, DelegationGrant.state.in_(LIVE)))
        if clash is not None:
            raise Conflict("this person already has (or was offered) access; revoke it first")
        row = DelegationGrant(id=new_id(), owner_id=vault.recipient_id, delegate_id=other.id,
                              org_id=org_id, scope=scope, state="pending",
                              delegate_key_version=other.key_version, created_at=now,
                              expires_at=expires_at)
        s.add(row)
        uow.commit()
        grant_id = row.id
    return _views(pb, DelegationGrant.id == grant_id)[0]


def _decide(pb: Postbox, vault: Vault, grant_id: str, accept: bool) -> None:
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        expire_due(s, now, recipient_id=vault.recipient_id)
        row = s.scalar(select(DelegationGrant).where(
            DelegationGrant.id == grant_id, DelegationGrant.delegate_id == vault.recipient_id,
            DelegationGrant.state == "pending").with_for_update())
        if row is None:
            raise NotFound("no such offer")
        if accept:
            row.state, row.accepted_at = "active", now
        else:
            _end(s, row, "declined", now)
        uow.commit()


def accept(pb: Postbox, vault: Vault, grant_id: str) -> None:
    _decide(pb, vault, grant_id, True)


def decline(pb: Postbox, vault: Vault, grant_id: str) -> None:
    _decide(pb, vault, grant_id, False)


def revoke(pb: Postbox, vault: Vault, grant_id: str) -> None:
    """The owner ends a grant, at once. The delegate may also give it up (same effect)."""
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        row = s.scalar(select(DelegationGrant).where(
            DelegationGrant.id == grant_id, DelegationGrant.state.in_(LIVE),
            or_(DelegationGrant.owner_id == vault.recipient_id,
                DelegationGrant.delegate_id == vault.recipient_id)).with_for_update())
        if row is None:
            raise NotFound("no such delegation")
        _end(s, row, "revoked", now)
        uow.commit()


def _views(pb: Postbox, *where: object) -> list[GrantView]:
    owner, delegate = Recipient.__table__.alias("owner"), Recipient.__table__.alias("delegate")
    with pb.uow() as uow:
        rows = uow.session.execute(
            select(DelegationGrant, owner.c.email, delegate.c.email, Organisation.name)
            .join(owner, owner.c.id == DelegationGrant.owner_id)
            .join(delegate, delegate.c.id == DelegationGrant.delegate_id)
            .outerjoin(Organisation, Organisation.id == DelegationGrant.org_id)
            .where(*where)  # type: ignore[arg-type]
            .order_by(DelegationGrant.created_at.desc(), DelegationGrant.id)).all()
        return [GrantView(g.id, g.owner_id, owner_email, g.delegate_id, delegate_email,
                          g.org_id,
                          org_name, g.scope, g.state, g.expires_at, g.rewrapped_at is not None)
                for g, owner_email, delegate_email, org_name in rows]


def organisations(pb: Postbox, vault: Vault) -> list[tuple[str, str]]:
    """(slug, name) of the organisations that know this recipient: the choice of scope."""
    with pb.uow() as uow:
        return [(slug, name) for slug, name in uow.session.execute(
            select(Organisation.slug, Organisation.name)
            .join(RecipientLink, RecipientLink.org_id == Organisation.id)
            .where(RecipientLink.recipient_id == vault.recipient_id)
            .distinct().order_by(Organisation.name))]


def given(pb: Postbox, vault: Vault) -> list[GrantView]:
    """The owner's live grants (pending and active), newest first."""
    sweep(pb, vault.recipient_id)
    return _views(pb, DelegationGrant.owner_id == vault.recipient_id,
                  DelegationGrant.state.in_(LIVE))


def received(pb: Postbox, vault: Vault) -> list[GrantView]:
    """Offers and grants others gave this recipient (pending and active)."""
    sweep(pb, vault.recipient_id)
    return _views(pb, DelegationGrant.delegate_id == vault.recipient_id,
                  DelegationGrant.state.in_(LIVE))


def sweep(pb: Postbox, recipient_id: str) -> None:
    """End the recipient's expired grants (both sides) and delete their stanzas."""
    now = pb.clock.now()
    with pb.uow() as uow:
        if expire_due(uow.session, now, recipient_id=recipient_id):
            uow.commit()


@dataclass(frozen=True)
class Access:
    """A delegate's live right to one owner's postbox, checked on every request."""

    grant_id: str
    owner_id: str
    delegate_id: str
    org_id: str | None
    scope: str
    key_version: int


def access(session: Session, delegate_id: str, owner_id: str, now: datetime) -> Access:
    """The active, unexpired grant from ``owner_id`` to ``delegate_id``, or NotFound.

    Read-only, so it fits any transaction; an expired grant is refused here at once, and
    :func:`sweep` deletes its stanzas.
    """
    row = session.scalar(select(DelegationGrant).where(
        DelegationGrant.owner_id == owner_id, DelegationGrant.delegate_id == delegate_id,
        DelegationGrant.state == "active", DelegationGrant.expires_at > now))
    if row is None:
        raise NotFound("no such postbox")
    return Access(row.id, row.owner_id, row.delegate_id, row.org_id, row.scope,
                  row.delegate_key_version)


def active_delegate(pb: Postbox, org_id: str, recipient_id: str) -> bool:
    """For the organisation: does this recipient have an active delegate covering its post?"""
    now = pb.clock.now()
    with pb.uow() as uow:
        found = uow.session.scalar(select(DelegationGrant.id).where(
            DelegationGrant.owner_id == recipient_id, DelegationGrant.state == "active",
            DelegationGrant.expires_at > now,
            or_(DelegationGrant.org_id.is_(None), DelegationGrant.org_id == org_id)).limit(1))
    return found is not None


def has_active_delegate(pb: Postbox, org_ref: str, external_id: str) -> bool:
    """The organisation's read-only question about one of its recipients (API and CLI)."""
    external_id = validation.external_id(external_id)
    with pb.uow() as uow:
        org_id = find_org(uow.session, org_ref).id
        recipient_id = find_linked(uow.session, org_id, external_id).id
    return active_delegate(pb, org_id, recipient_id)
