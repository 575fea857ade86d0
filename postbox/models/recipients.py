"""Recipients, their per-organisation external ids, wrapped private keys and vault sessions.

``recipients.id`` is the pseudonymous id that evidence names. Private keys exist only as
``wrapped_keys`` blobs and, while unlocked, re-wrapped under a key the server never holds.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from postbox.models.base import Base, check_in, created_column, defaulted, id_column, ref_column

RECIPIENT_STATES = ("invited", "active")
KEY_PURPOSES = ("activation", "pin", "recovery")


class Recipient(Base):
    __tablename__ = "recipients"
    __table_args__ = (check_in("state", RECIPIENT_STATES),)

    id: Mapped[str] = id_column()
    # Stored lower-cased (see the validator) so the plain index serves case-blind lookups.
    email: Mapped[str] = mapped_column(String(320), index=True)
    email_bouncing: Mapped[bool] = defaulted(False)
    state: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = defaulted("en", String(8))
    key_version: Mapped[int] = defaulted(1)
    x25519_public: Mapped[bytes]
    ed25519_public: Mapped[bytes]
    totp_secret_sealed: Mapped[bytes | None]
    totp_pending_sealed: Mapped[bytes | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    failed_attempts: Mapped[int] = defaulted(0)
    locked_until: Mapped[datetime | None]
    anti_phishing_sealed: Mapped[bytes | None]
    notice_code: Mapped[str | None] = mapped_column(String(16))
    # HMAC (under the pepper) of the letter's activation code while invited; NULL once active.
    activation_lookup: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_column()
    activated_at: Mapped[datetime | None]

    @validates("email")
    def _lower_email(self, _key: str, value: str) -> str:
        return value.strip().lower()


class RecipientLink(Base):
    """How one organisation names a recipient (its customer number, say)."""

    __tablename__ = "recipient_links"
    __table_args__ = (UniqueConstraint("org_id", "external_id"),)

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = ref_column("organisations.id")
    recipient_id: Mapped[str] = ref_column("recipients.id", index=True)
    external_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = created_column()

    recipient: Mapped[Recipient] = relationship()


class WrappedKey(Base):
    """The recipient's private keys, AEAD-wrapped under a key derived from a PIN or code."""

    __tablename__ = "wrapped_keys"
    __table_args__ = (
        UniqueConstraint("recipient_id", "purpose", "key_version"),
        check_in("purpose", KEY_PURPOSES),
    )

    id: Mapped[str] = id_column()
    recipient_id: Mapped[str] = ref_column("recipients.id")
    purpose: Mapped[str] = mapped_column(String(20))
    key_version: Mapped[int]
    salt: Mapped[bytes]
    blob: Mapped[bytes]
    # Fingerprint of the master key (pepper) this wrap was derived with; NULL = the current one.
    pepper_id: Mapped[str | None] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = created_column()


class VaultSession(Base):
    """An unlocked vault: keys re-wrapped under a session key that only the client holds.

    ``id`` is the SHA-256 hex of the client's random session id, so a DB dump can't resume it.
    """

    __tablename__ = "vault_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    recipient_id: Mapped[str] = ref_column("recipients.id", index=True)
    sealed_keys: Mapped[bytes]
    auth_methods: Mapped[str] = mapped_column(String(100))
    totp_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_column()
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class LoginThrottle(Base):
    """Failed-login counter for identifiers that match no account (keyed hash of the identifier),
    so lockouts look the same whether or not the account exists."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failed_attempts: Mapped[int] = defaulted(0)
    locked_until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = created_column()
