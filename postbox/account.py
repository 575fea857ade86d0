"""A recipient's own account: e-mail, anti-phishing phrase, authenticator, and access history.

Everything here runs on an unlocked vault. Changing where notices go or which authenticator
counts needs a fresh proof of presence (an OTP, or the PIN plus the new authenticator), and
failures count towards the same lockout as logins. ``history`` lists the recipient's own
``retrieved`` evidence: when each document was handed over, and to which login session.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crypto.envelope import DocumentAddress, open_metadata
from crypto.errors import OpenError
from crypto.keys import unwrap_private_keys
from crypto.totp import match_step, new_totp_secret, provisioning_uri
from postbox import lockout, notices, reading, validation
from postbox.auth import Vault
from postbox.bootstrap import Postbox
from postbox.errors import (
    AccountLocked,
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    SessionExpired,
)
from postbox.models import (
    DelegateRetrieval,
    Document,
    Evidence,
    Organisation,
    Recipient,
    VaultSession,
    WrappedKey,
)

PHRASE_MAX = 64
HISTORY_MAX_PER_PAGE = 100
DRAFT_PURPOSE = "client-draft"


@dataclass(frozen=True)
class Profile:
    email: str
    phrase: str | None
    activated_at: datetime | None


@dataclass(frozen=True)
class Mailbox:
    """A folder page plus the phrase that shows the page is really the recipient's postbox."""

    listing: reading.InboxPage
    phrase: str | None
    notice_code: str  # also printed in every notice e-mail, so a notice can be checked


@dataclass(frozen=True, repr=False)
class TotpEnrolment:
    """A new authenticator secret, pending until confirmed with a code from it."""

    secret: str
    provisioning_uri: str


@dataclass(frozen=True)
class Retrieval:
    """One handover of one of the recipient's documents (a ``retrieved`` evidence)."""

    evidence_id: str
    at: datetime
    document_id: str | None
    org_name: str | None
    subject: str | None
    session: str | None
    login_at: datetime | None
    methods: tuple[str, ...]
    this_session: bool
    delegate: str | None = None  # e-mail of the delegate who opened it (power of attorney)


@dataclass(frozen=True)
class HistoryPage:
    items: list[Retrieval]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _recipient(session: Session, vault: Vault, *, lock: bool = True) -> Recipient:
    """The vault's recipient; locked for update unless only read."""
    row = session.get(Recipient, vault.recipient_id, with_for_update=lock)
    if row is None or row.state != "active":
        raise SessionExpired()
    return row


def _fail(pb: Postbox, session: Session, recipient: Recipient, now: datetime) -> NoReturn:
    """Count a failed proof like a failed login, commit it, and raise the uniform error."""
    locked = lockout.register_failure(recipient, now, pb.settings.login_max_failures)
    session.commit()
    if locked and recipient.locked_until is not None:
        raise AccountLocked(recipient.locked_until.strftime("%H:%M UTC"))
    raise AuthenticationFailed()


def _phrase(pb: Postbox, recipient: Recipient) -> str | None:
    if recipient.anti_phishing_sealed is None:
        return None
    try:
        return pb.keys.open("phrase", recipient.id, recipient.anti_phishing_sealed).decode()
    except OpenError:
        return None


def profile(pb: Postbox, vault: Vault) -> Profile:
    with pb.uow() as uow:
        row = _recipient(uow.session, vault, lock=False)
        return Profile(row.email, _phrase(pb, row), row.activated_at)


def phrase(pb: Postbox, vault: Vault) -> str | None:
    """The anti-phishing phrase, shown on the inbox and in every notice; None when unset."""
    return profile(pb, vault).phrase


def mailbox(pb: Postbox, vault: Vault, folder: reading.Folder = "inbox",
            query: str | None = None, page: int = 1, per_page: int = 25) -> Mailbox:
    """What the inbox page shows: one page of a folder, and the anti-phishing phrase."""
    listing = reading.inbox(pb, vault, folder, query, page, per_page)
    return Mailbox(listing, phrase(pb, vault), notices.notice_code(pb, vault.recipient_id))


def set_phrase(pb: Postbox, vault: Vault, text: str) -> str | None:
    """Set (or, with blank text, clear) the phrase; stored sealed under the master key."""
    cleaned = (text or "").strip()
    value = validation.display_text(cleaned, "phrase", PHRASE_MAX) if cleaned else None
    with pb.uow() as uow:
        row = _recipient(uow.session, vault)
        row.anti_phishing_sealed = (pb.keys.seal("phrase", row.id, value.encode())
                                    if value is not None else None)
        uow.commit()
    return value


def _check_otp(pb: Postbox, session: Session, recipient: Recipient, otp: str,
               now: datetime) -> int:
    lockout.ensure_unlocked(recipient, now)
    if recipient.totp_secret_sealed is None:
        _fail(pb, session, recipient, now)
    secret = pb.keys.open("totp", recipient.id, recipient.totp_secret_sealed).decode()
    step = match_step(secret, otp, now=now.timestamp(), last_step=recipient.totp_last_step)
    if step is None:
        _fail(pb, session, recipient, now)
    return step


def change_email(pb: Postbox, vault: Vault, new_email: str, otp: str) -> str:
    """Move notices to another address; needs a fresh code from the authenticator."""
    address = validation.email((new_email or "").strip())
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        row = _recipient(s, vault)
        step = _check_otp(pb, s, row, otp, now)
        taken = s.scalar(select(Recipient.id).where(Recipient.email == address,
                                                    Recipient.id != row.id))
        if taken is not None:
            raise Conflict("this e-mail address cannot be used for this postbox")
        lockout.register_success(row)
        row.totp_last_step = step
        row.email = address
        uow.commit()
    return address


def begin_totp_enrolment(pb: Postbox, vault: Vault) -> TotpEnrolment:
    """A new authenticator secret, kept pending (sealed) until confirmed."""
    secret = new_totp_secret()
    with pb.uow() as uow:
        row = _recipient(uow.session, vault)
        row.totp_pending_sealed = pb.keys.seal("totp", row.id, secret.encode())
        email = row.email
        uow.commit()
    return TotpEnrolment(secret, provisioning_uri(secret, email))


def _pin_matches(pb: Postbox, session: Session, recipient: Recipient, pin: str) -> bool:
    wrapped = session.scalar(select(WrappedKey).where(
        WrappedKey.recipient_id == recipient.id, WrappedKey.purpose == "pin",
        WrappedKey.key_version == recipient.key_version))
    if wrapped is None or not isinstance(pin, str) or not pin.isascii() or not pin.isdigit():
        return False
    kek = pb.keys.kek(pin, salt=wrapped.salt, recipient_id=recipient.id, purpose="pin")
    try:
        unwrap_private_keys(wrapped.blob, kek, purpose="pin", recipient_id=recipient.id,
                            key_version=wrapped.key_version)
    except OpenError:
        return False
    return True


def confirm_totp_enrolment(pb: Postbox, vault: Vault, pin: str, otp: str) -> None:
    """Make the pending authenticator the one that counts: the PIN plus a code from it."""
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        row = _recipient(s, vault)
        lockout.ensure_unlocked(row, now)
        if row.totp_pending_sealed is None:
            raise InvalidInput("Start setting up the new authenticator again.")
        secret = pb.keys.open("totp", row.id, row.totp_pending_sealed).decode()
        step = match_step(secret, otp, now=now.timestamp(), last_step=None)
        if not _pin_matches(pb, s, row, pin) or step is None:
            _fail(pb, s, row, now)
        lockout.register_success(row)
        row.totp_secret_sealed, row.totp_pending_sealed = row.totp_pending_sealed, None
        row.totp_last_step = step
        uow.commit()


def _subject(vault: Vault, doc: Document | None) -> str | None:
    if doc is None:
        return None
    try:
        meta = open_metadata(doc.sealed_key, doc.sealed_meta,
                             DocumentAddress(doc.id, doc.recipient_id, doc.key_version),
                             vault.keys.x25519)
    except OpenError:
        return None
    return meta.get("subject")


def history(pb: Postbox, vault: Vault, page: int = 1, per_page: int = 50) -> HistoryPage:
    """The recipient's own retrieval evidence, newest first: when, and by which login."""
    page, per_page = max(1, page), min(max(1, per_page), HISTORY_MAX_PER_PAGE)
    mine = (Evidence.recipient_id == vault.recipient_id, Evidence.event == "retrieved")
    with pb.uow() as uow:
        s = uow.session
        total = s.scalar(select(func.count()).select_from(Evidence).where(*mine)) or 0
        rows = s.execute(
            select(Evidence, Document, Organisation)
            .outerjoin(Document, Document.id == Evidence.document_id)
            .outerjoin(Organisation, Organisation.id == Evidence.org_id)
            .where(*mine).order_by(Evidence.created_at.desc(), Evidence.id)
            .offset((page - 1) * per_page).limit(per_page)).all()
        logins = {sid[:16]: created for sid, created in s.execute(
            select(VaultSession.id, VaultSession.created_at)
            .where(VaultSession.recipient_id == vault.recipient_id))}
        delegates = dict(s.execute(  # opens by a delegate name them (postbox/delegation.py)
            select(DelegateRetrieval.evidence_id, Recipient.email)
            .join(Recipient, Recipient.id == DelegateRetrieval.delegate_id)
            .where(DelegateRetrieval.evidence_id.in_([ev.id for ev, _, _ in rows]))).all())
        items = []
        for ev, doc, org in rows:
            auth: dict[str, Any] = json.loads(ev.body).get("auth") or {}
            session_ref = auth.get("session")
            items.append(Retrieval(
                evidence_id=ev.id, at=ev.created_at, document_id=ev.document_id,
                org_name=org.name if org is not None else None, subject=_subject(vault, doc),
                session=session_ref, login_at=logins.get(session_ref or ""),
                methods=tuple(auth.get("methods") or ()),
                this_session=session_ref == vault.session_hash[:16] and ev.id not in delegates,
                delegate=delegates.get(ev.id)))
    return HistoryPage(items, total, page, per_page)


def seal_draft(pb: Postbox, values: dict[str, str]) -> str:
    """Opaque text holding a multi-step form's secrets (an activation in progress) for the
    client to carry: sealed under the master key and stamped, so it is neither readable nor
    usable for long."""
    body = json.dumps({"at": pb.clock.now().timestamp(), "v": values}).encode()
    return base64.urlsafe_b64encode(pb.keys.seal(DRAFT_PURPOSE, "-", body)).decode()


def open_draft(pb: Postbox, text: str, max_age_s: int = 1800) -> dict[str, str] | None:
    """The values of :func:`seal_draft`, or None when tampered with, foreign or stale."""
    try:
        body = json.loads(pb.keys.open(DRAFT_PURPOSE, "-", base64.urlsafe_b64decode(text)))
        at = float(body["at"])
        values = body["v"]
    except (OpenError, ValueError, TypeError, KeyError, binascii.Error):
        return None
    now = pb.clock.now().timestamp()
    if not isinstance(values, dict) or not now - max_age_s <= at <= now + 60:
        return None
    return {str(k): str(v) for k, v in values.items()}

