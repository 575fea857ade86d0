"""Organisations and their API tokens (shown once, stored as SHA-256)."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from postbox import validation
from postbox.bootstrap import Postbox
from postbox.errors import Conflict, InvalidInput, NotFound
from postbox.models import ROLES, ApiToken, Organisation, new_id

TOKEN_PREFIX = "pbx_"


@dataclass(frozen=True)
class OrgView:
    id: str
    slug: str
    name: str


@dataclass(frozen=True)
class TokenIdentity:
    token_id: str
    org_id: str
    role: str


def _view(org: Organisation) -> OrgView:
    return OrgView(org.id, org.slug, org.name)


def slug_for(name: str) -> str:
    import re
    import unicodedata

    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:63].strip("-")


def create_org(pb: Postbox, name: str, slug: str | None = None) -> OrgView:
    name = validation.display_text(name, "organisation name", 200)
    slug = validation.slug(slug or slug_for(name) or "org")
    with pb.uow() as uow:
        if uow.session.scalar(select(Organisation.id).where(Organisation.slug == slug)):
            raise Conflict(f"an organisation with slug {slug!r} already exists")
        org = Organisation(id=new_id(), slug=slug, name=name, created_at=pb.clock.now())
        uow.session.add(org)
        try:
            uow.commit()
        except IntegrityError:
            raise Conflict(f"an organisation with slug {slug!r} already exists") from None
        return _view(org)


def find_org(session: Session, ref: str) -> Organisation:
    """An organisation by slug or id."""
    org = session.scalar(select(Organisation).where(or_(Organisation.slug == ref,
                                                        Organisation.id == ref)))
    if org is None:
        raise NotFound(f"no organisation {ref!r}")
    return org


def get_org(pb: Postbox, ref: str) -> OrgView:
    with pb.uow() as uow:
        return _view(find_org(uow.session, ref))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(pb: Postbox, org_ref: str, role: str, label: str | None = None) -> str:
    """A new bearer token for the organisation; the only time its value exists in clear."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        uow.session.add(ApiToken(id=new_id(), org_id=org.id, role=role, token_hash=_hash(token),
                                 label=label, created_at=pb.clock.now()))
        uow.commit()
    return token


def resolve_token(pb: Postbox, token: str) -> TokenIdentity | None:
    """Who a bearer token speaks for; None when unknown or revoked."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    with pb.uow() as uow:
        row = uow.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token),
                                                        ApiToken.revoked_at.is_(None)))
        if row is None:
            return None
        return TokenIdentity(row.id, row.org_id, row.role)


def revoke_token(pb: Postbox, org_ref: str, token_id: str) -> None:
    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        row = uow.session.scalar(select(ApiToken).where(ApiToken.id == token_id,
                                                        ApiToken.org_id == org.id))
        if row is None:
            raise NotFound("no such token")
        row.revoked_at = pb.clock.now()
        uow.commit()
