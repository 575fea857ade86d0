"""Sender organisations and the people and tokens that act for them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from postbox.models.base import Base, check_in, created_column, defaulted, id_column, ref_column

ROLES = ("admin", "sender", "compliance")


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[str] = id_column()
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_column()
    notice_show_sender: Mapped[bool] = defaulted(False)
    # The org's public key for replies; replies are sealed to it, so only the org reads them.
    reply_public_key: Mapped[bytes | None]
    retention_days: Mapped[int] = defaulted(3650)


class StaffUser(Base):
    __tablename__ = "staff_users"
    __table_args__ = (UniqueConstraint("org_id", "email"), check_in("role", ROLES))

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = ref_column("organisations.id")
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    totp_secret_sealed: Mapped[bytes | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    failed_attempts: Mapped[int] = defaulted(0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_column()

    organisation: Mapped[Organisation] = relationship()

    @validates("email")
    def _lower_email(self, _key: str, value: str) -> str:
        return value.strip().lower()


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, so a DB dump yields no usable token."""

    __tablename__ = "api_tokens"
    __table_args__ = (check_in("role", ROLES),)

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = ref_column("organisations.id", index=True)
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_column()
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()
