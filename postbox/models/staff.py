"""Staff invitations (one-time link codes, stored hashed) and staff console sessions."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column, validates

from postbox.models.base import Base, check_in, created_column, id_column, ref_column
from postbox.models.organisations import ROLES


class StaffInvite(Base):
    """An invitation to join an organisation's console; only the code's SHA-256 is kept."""

    __tablename__ = "staff_invites"
    __table_args__ = (check_in("role", ROLES),)

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = ref_column("organisations.id", index=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The authenticator secret offered on the join page, until the first code confirms it.
    totp_pending_sealed: Mapped[bytes | None]
    invited_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    @validates("email")
    def _lower_email(self, _key: str, value: str) -> str:
        return value.strip().lower()


class StaffSession(Base):
    """A signed-in staff member. ``id`` is the SHA-256 hex of the token in the browser's
    cookie, so a database dump cannot resume a session. ``cookie_key`` opens what this session
    keeps in the browser (the organisation key, when uploaded); logout destroys it."""

    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[str] = ref_column("staff_users.id", index=True)
    cookie_key: Mapped[bytes]
    totp_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_column()
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
