"""The print queue: letters left unread until a print step, for the sender to put on paper.

The service cannot print them itself: it keeps no plaintext, and the document is sealed to the
recipient alone. So a print step (postbox/escalation.py) records ``print_fallback`` evidence and
a queue entry; the sender's staff see it in the console, the API or ``postbox print queue``,
then print the letter from their own archive. ``print_pdf`` puts a DIN 5008 cover page (the
postal address in the window) on top of the sender's copy, after checking that the copy is
exactly the document that was delivered: its request fingerprint (``delivery._request_hash``:
recipient, subject, file name, case, due date and the SHA-256 of the content), which exists
for deliveries made with an Idempotency-Key and for every batch item. Nothing is stored.

An entry ends ``printed`` (by whom, and the SHA-256 of what went on paper) or ``dismissed``;
a dismissal means the letter reached the recipient on no channel, so it records
``notice_failed`` evidence with ``channel: paper``.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from tempfile import SpooledTemporaryFile
from typing import IO, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from postbox import evidence, validation, webhooks
from postbox.bootstrap import Postbox
from postbox.errors import Conflict, DocumentTooLarge, InvalidInput, NotFound
from postbox.keyring import KeyRing
from postbox.models import (
    BatchItem,
    Case,
    Document,
    Organisation,
    PrintJob,
    Recipient,
    RecipientLink,
    new_id,
)
from postbox.models.escalation import PRINT_STATES
from postbox.orgs import find_org

PIECE = 1 << 16
SPOOL = 8 << 20
MAX_LIST = 1000


@dataclass(frozen=True)
class PrintEntry:
    id: str
    document_id: str
    recipient: str | None  # the organisation's external id
    step_day: int
    reason: str
    state: str
    created_at: datetime
    consigned_at: datetime | None
    printable: bool  # a fingerprint exists, so print_pdf can check the sender's copy
    printed_at: datetime | None
    printed_by: str | None


def enqueue(session: Session, keys: KeyRing, doc: Document, step_day: int,
            now: datetime) -> bool:
    """Queue ``doc`` for paper with its ``print_fallback`` evidence (caller's transaction);
    False if it is queued already."""
    if session.scalar(select(PrintJob.id).where(PrintJob.document_id == doc.id)) is not None:
        return False
    recipient = session.get(Recipient, doc.recipient_id)
    reason = "notice-failed" if recipient is not None and recipient.email_bouncing else "unread"
    entry_id = new_id()
    session.add(PrintJob(id=entry_id, org_id=doc.org_id, document_id=doc.id,
                         recipient_id=doc.recipient_id, step_day=step_day, reason=reason,
                         created_at=now))
    evidence.record(session, keys, "print_fallback",
                    evidence.Subject(doc.org_id, doc.recipient_id, doc.id,
                                     doc.ciphertext_sha256), now,
                    details={"step_day": step_day, "reason": reason, "copy": "sender-archive"})
    # In this transaction, so the sender hears of exactly the entries that exist.
    webhooks.emit_document_event(session, "print_queued", doc.org_id, doc.recipient_id, doc.id,
                                 now, entry_id=entry_id, step_day=step_day, reason=reason,
                                 printable=_fingerprint(session, doc) is not None)
    return True


def _external(session: Session, org_id: str, recipient_id: str) -> str | None:
    return session.scalar(select(RecipientLink.external_id).where(
        RecipientLink.org_id == org_id, RecipientLink.recipient_id == recipient_id)
        .order_by(RecipientLink.created_at).limit(1))


def _fingerprint(session: Session, doc: Document) -> str | None:
    if doc.request_hash:
        return doc.request_hash
    return session.scalar(select(BatchItem.request_hash).where(BatchItem.document_id == doc.id))


def _entry(session: Session, row: PrintJob) -> PrintEntry:
    doc = session.get(Document, row.document_id)
    return PrintEntry(row.id, row.document_id, _external(session, row.org_id, row.recipient_id),
                      row.step_day, row.reason, row.state, row.created_at,
                      doc.consigned_at if doc else None,
                      doc is not None and _fingerprint(session, doc) is not None,
                      row.printed_at, row.printed_by)


def list_entries(pb: Postbox, org_ref: str, state: str | None = "queued",
                 limit: int = 200) -> list[PrintEntry]:
    """The organisation's entries, oldest first (``state`` None: all)."""
    if state is not None and state not in PRINT_STATES:
        raise InvalidInput(f"state is one of {', '.join(PRINT_STATES)}")
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit is 1 to {MAX_LIST}")
    with pb.uow() as uow:
        s = uow.session
        query = select(PrintJob).where(PrintJob.org_id == find_org(s, org_ref).id)
        if state is not None:
            query = query.where(PrintJob.state == state)
        rows = s.scalars(query.order_by(PrintJob.created_at, PrintJob.id).limit(limit))
        return [_entry(s, r) for r in rows]


def _row(session: Session, org_id: str, entry_id: str, lock: bool = False) -> PrintJob:
    query = select(PrintJob).where(PrintJob.id == entry_id, PrintJob.org_id == org_id)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound("no such print queue entry")
    return row


def get_entry(pb: Postbox, org_ref: str, entry_id: str) -> PrintEntry:
    with pb.uow() as uow:
        s = uow.session
        return _entry(s, _row(s, find_org(s, org_ref).id, entry_id))


def _actor(by: str) -> str:
    if not isinstance(by, str) or not by.strip() or len(by) > 200:
        raise InvalidInput("say who acts (a name or e-mail of a person at the organisation)")
    return by.strip()


def mark_printed(pb: Postbox, org_ref: str, entry_id: str, by: str,
                 sha256: str | None = None) -> PrintEntry:
    """The letter went on paper (idempotent for an entry already printed)."""
    by = _actor(by)
    if sha256 is not None and not (len(sha256) == 64 and all(
            c in "0123456789abcdef" for c in sha256)):
        raise InvalidInput("sha256 is 64 lowercase hex characters")
    with pb.uow() as uow:
        s = uow.session
        row = _row(s, find_org(s, org_ref).id, entry_id, lock=True)
        if row.state == "dismissed":
            raise Conflict("this entry was dismissed")
        if row.state == "queued":
            row.state, row.printed_at, row.printed_by = "printed", pb.clock.now(), by
            row.printed_sha256 = sha256 or row.printed_sha256
        entry = _entry(s, row)
        uow.commit()
        return entry


def dismiss(pb: Postbox, org_ref: str, entry_id: str, by: str, reason: str) -> PrintEntry:
    """Give up on paper (no address, no copy): ``notice_failed`` on the paper channel."""
    by = _actor(by)
    reason = validation.display_text(reason, "reason", 200)
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        row = _row(s, find_org(s, org_ref).id, entry_id, lock=True)
        if row.state != "queued":
            raise Conflict(f"this entry is {row.state}")
        doc = s.get(Document, row.document_id)
        assert doc is not None  # print_queue.document_id is a foreign key
        row.state, row.printed_by = "dismissed", by
        evidence.record(s, pb.keys, "notice_failed",
                        evidence.Subject(doc.org_id, doc.recipient_id, doc.id,
                                         doc.ciphertext_sha256), now,
                        details={"channel": "paper", "reason": reason, "by": by})
        entry = _entry(s, row)
        uow.commit()
        return entry


@dataclass(frozen=True)
class _Cover:
    org_name: str
    document_id: str
    recipient: str
    consigned_at: datetime
    sha256: str
    address: list[str]


def cover_page(cover: _Cover) -> bytes:
    """One A4 page; the address sits in the window of a DIN 5008 form B envelope."""
    from postbox.printing import draw_cover  # see print_pdf: printing imports delivery

    return draw_cover(cover.org_name, cover.address, "Postbox paper copy", [
        "This letter was placed in your digital postbox and is still unopened,",
        "so we also send it to you on paper. The letter itself follows this page.", "",
        f"In your postbox since: {cover.consigned_at.strftime('%Y-%m-%d %H:%M UTC')}",
        f"Document:    {cover.document_id}",
        f"Recipient:   {cover.recipient[:60]}"],
        "SHA-256 of the letter that follows (as delivered):", cover.sha256)


def print_pdf(pb: Postbox, org_ref: str, entry_id: str, stream: BinaryIO, subject: str,
              filename: str, address: str | None = None) -> IO[bytes]:
    """Cover page + the sender's copy of a queued letter, as one PDF (nothing is stored)."""
    # Imported here: delivery and printing import (through followups, reminders and
    # escalation) this module, which the print step needs at consignment time.
    from postbox import delivery, printing

    lines = printing.postal_address(address)
    subject = validation.display_text(subject, "subject", 200)
    filename = validation.filename(filename)
    with pb.uow() as uow:
        s = uow.session
        org = find_org(s, org_ref)
        row = _row(s, org.id, entry_id)
        if row.state == "dismissed":
            raise Conflict("this entry was dismissed")
        doc = s.get(Document, row.document_id)
        assert doc is not None  # a foreign key
        expected = _fingerprint(s, doc)
        if expected is None:
            raise Conflict("no fingerprint was kept for this document (it was sent without an "
                           "Idempotency-Key), so its copy cannot be checked: print it from your "
                           "archive with your own cover")
        external = _external(s, org.id, doc.recipient_id) or ""
        case_row = s.get(Case, doc.case_id) if doc.case_id else None
        case = case_row.reference if case_row is not None else None
        automated, due = doc.automated, doc.due_date
        consigned, document_id = doc.consigned_at or row.created_at, doc.id
        org_name = s.get(Organisation, org.id).name  # type: ignore[union-attr]
    upload: IO[bytes] = SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - closed below
    try:
        digest, size = hashlib.sha256(), 0
        while piece := stream.read(PIECE):
            size += len(piece)
            if size > pb.settings.max_document_bytes:
                raise DocumentTooLarge(f"the document is larger than "
                                       f"{pb.settings.max_document_bytes} bytes")
            digest.update(piece)
            upload.write(piece)
        wanted = delivery._request_hash(external, subject, filename, case, automated, due,
                               digest.hexdigest())
        if not hmac.compare_digest(wanted, expected):
            raise Conflict("this is not the document that was delivered (check the file, its "
                           "subject and file name as sent)")
        upload.seek(0)
        cover = _Cover(org_name, document_id, external, consigned, digest.hexdigest(), lines)
        return printing._merge(cover_page(cover), upload)
    finally:
        upload.close()
