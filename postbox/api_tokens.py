"""API tokens as the sender API sees them: authenticate (with a coarse last-use time) and list.

Creating and revoking live in ``postbox.orgs``; a token's value exists in clear only in the
answer that created it (the database keeps its SHA-256).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from postbox.bootstrap import Postbox
from postbox.models import ApiToken
from postbox.orgs import TOKEN_PREFIX, TokenIdentity

# Writing the last-use time on every request would make each read a write; minutes suffice.
TOUCH_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class TokenView:
    id: str
    role: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def authenticate(pb: Postbox, token: str) -> TokenIdentity | None:
    """Who the bearer token speaks for (None: unknown or revoked); notes its use, coarsely:
    one read per request, a write only when the last noted use is older than TOUCH_EVERY."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    digest = hashlib.sha256(token.encode()).hexdigest()  # as stored by postbox.orgs
    with pb.uow() as uow:
        row = uow.session.execute(
            select(ApiToken.id, ApiToken.org_id, ApiToken.role, ApiToken.last_used_at)
            .where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))).first()
        if row is None:
            return None
        now = pb.clock.now()
        if row.last_used_at is None or row.last_used_at < now - TOUCH_EVERY:
            uow.session.execute(update(ApiToken).where(ApiToken.id == row.id)
                                .values(last_used_at=now)
                                .execution_options(synchronize_session=False))
            uow.commit()
        return TokenIdentity(row.id, row.org_id, row.role)


def list_tokens(pb: Postbox, org_id: str) -> list[TokenView]:
    """The organisation's tokens, newest first (never their values)."""
    with pb.uow() as uow:
        rows = uow.session.scalars(select(ApiToken).where(ApiToken.org_id == org_id)
                                   .order_by(ApiToken.created_at.desc(), ApiToken.id))
        return [TokenView(t.id, t.role, t.label, t.created_at, t.last_used_at, t.revoked_at)
                for t in rows]
