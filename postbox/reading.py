"""Reading the postbox: the inbox, one message, its content, and archive/delete/restore.

Another recipient's document is "not found", never "forbidden". ``retrieved`` evidence is
recorded only after the whole plaintext was streamed and authenticated; a stream that is cut
short (client gone, tampered blob) records nothing.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import BinaryIO, Iterator, Literal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from crypto.envelope import DocumentAddress, open_document, open_metadata
from crypto.errors import OpenError
from postbox import evidence, followups, validation
from postbox.auth import Vault
from postbox.bootstrap import Postbox
from postbox.errors import DatabaseProblem, InvalidInput, NotFound, PostboxError, storage_problem
from postbox.models import Case, Document, Organisation, Reply
from storage.errors import StorageError

log = logging.getLogger("postbox.reading")
Folder = Literal["inbox", "archive", "deleted"]
RESTORE_DAYS = 30
VISIBLE = ("consigned", "notified", "retrieved")
MAX_PER_PAGE = 100


class DocumentUnreadable(PostboxError):
    """The stored document failed its integrity check; nothing was delivered."""

    kind = "document-unreadable"


@dataclass(frozen=True)
class Message:
    document_id: str
    org_name: str
    org_slug: str
    subject: str
    filename: str
    content_type: str
    size: int
    received_at: datetime
    due_date: date | None
    read: bool
    archived: bool
    deleted: bool
    case_id: str | None
    superseded_by: str | None = None
    retracted: bool = False


@dataclass(frozen=True)
class CaseView:
    """A case as the recipient sees it: its documents and their replies, oldest first."""

    reference: str
    org_name: str
    on_hold: bool
    messages: list[Message]
    replies: list[tuple[datetime, str, str]]  # (when, kind, in reply to document id)


@dataclass(frozen=True)
class InboxPage:
    items: list[Message]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _address(doc: Document) -> DocumentAddress:
    return DocumentAddress(doc.id, doc.recipient_id, doc.key_version)


def _message(vault: Vault, doc: Document, org: Organisation) -> Message:
    try:
        meta = open_metadata(doc.sealed_key, doc.sealed_meta, _address(doc), vault.keys.x25519)
    except OpenError:
        meta = {"subject": "(unreadable)", "filename": "document"}
    return Message(doc.id, org.name, org.slug, meta.get("subject", ""),
                   validation.shown_filename(meta.get("filename", "document"),
                                             doc.content_type), doc.content_type,
                   doc.plaintext_size,
                   doc.consigned_at or doc.created_at, doc.due_date, doc.first_read_at is not None,
                   doc.archived_at is not None, doc.deleted_at is not None, doc.case_id,
                   doc.superseded_by, doc.retracted_at is not None)


def _folder_query(vault: Vault, folder: Folder):  # type: ignore[no-untyped-def]
    q = (select(Document, Organisation).join(Organisation, Organisation.id == Document.org_id)
         .where(Document.recipient_id == vault.recipient_id, Document.status.in_(VISIBLE)))
    if folder == "deleted":
        return q.where(Document.deleted_at.is_not(None))
    q = q.where(Document.deleted_at.is_(None))
    if folder == "archive":
        return q.where(Document.archived_at.is_not(None))
    return q.where(Document.archived_at.is_(None))


def inbox(pb: Postbox, vault: Vault, folder: Folder = "inbox", query: str | None = None,
          page: int = 1, per_page: int = 25) -> InboxPage:
    """Due dates first, then newest first. A search decrypts subjects to match them."""
    if folder not in ("inbox", "archive", "deleted"):
        raise InvalidInput("unknown folder")
    page, per_page = max(1, page), min(max(1, per_page), MAX_PER_PAGE)
    needle = (query or "").strip().casefold()[:200]
    ordered = _folder_query(vault, folder).order_by(
        case((Document.due_date.is_(None), 1), else_=0), Document.due_date,
        Document.created_at.desc(), Document.id)
    with pb.uow() as uow:
        s = uow.session
        if not needle:
            total = s.scalar(select(func.count()).select_from(
                _folder_query(vault, folder).subquery())) or 0
            rows = s.execute(ordered.offset((page - 1) * per_page).limit(per_page)).all()
            return InboxPage([_message(vault, d, o) for d, o in rows], total, page, per_page)
        matches = [m for d, o in s.execute(ordered) for m in [_message(vault, d, o)]
                   if needle in m.subject.casefold() or needle in m.org_name.casefold()
                   or needle in m.filename.casefold()]
    start = (page - 1) * per_page
    return InboxPage(matches[start:start + per_page], len(matches), page, per_page)


def _own(session: Session, vault: Vault, document_id: str) -> tuple[Document, Organisation]:
    row = session.execute(
        select(Document, Organisation).join(Organisation, Organisation.id == Document.org_id)
        .where(Document.id == document_id, Document.recipient_id == vault.recipient_id,
               Document.status.in_(VISIBLE))).first()
    if row is None:
        raise NotFound("no such message")
    return row[0], row[1]


def case_view(pb: Postbox, vault: Vault, case_id: str) -> CaseView:
    """Every visible document of one case of this recipient, with the replies they sent."""
    with pb.uow() as uow:
        s = uow.session
        case = s.get(Case, case_id)
        rows = s.execute(
            select(Document, Organisation).join(Organisation, Organisation.id == Document.org_id)
            .where(Document.case_id == case_id, Document.recipient_id == vault.recipient_id,
                   Document.status.in_(VISIBLE))
            .order_by(Document.created_at, Document.id)).all()
        if case is None or not rows:
            raise NotFound("no such case")
        sent = s.execute(select(Reply.created_at, Reply.kind, Reply.document_id)
                         .where(Reply.case_id == case_id,
                                Reply.recipient_id == vault.recipient_id)
                         .order_by(Reply.created_at)).all()
        return CaseView(case.reference, rows[0][1].name, case.state == "on_hold",
                        [_message(vault, d, o) for d, o in rows],
                        [(when, kind, doc) for when, kind, doc in sent])


def message(pb: Postbox, vault: Vault, document_id: str) -> Message:
    with pb.uow() as uow:
        doc, org = _own(uow.session, vault, document_id)
        return _message(vault, doc, org)


@dataclass
class OpenedDocument:
    message: Message
    chunks: Iterator[bytes]


def open_message(pb: Postbox, vault: Vault, document_id: str) -> OpenedDocument:
    """The plaintext as a stream; ``retrieved`` is recorded when the stream completes."""
    with pb.uow() as uow:
        doc, org = _own(uow.session, vault, document_id)
        msg = _message(vault, doc, org)
        address, blob_key = _address(doc), doc.blob_key
    try:
        blob = _Watched(pb.store.open(blob_key))
    except StorageError as exc:
        raise storage_problem(exc) from exc

    def stream() -> Iterator[bytes]:
        try:
            yield from open_document(blob, address, vault.keys.x25519)  # type: ignore[arg-type]
        except OpenError:
            if blob.failure is not None:  # the store failed mid-read: an outage, not tampering
                raise storage_problem(blob.failure) from blob.failure
            log.error("document %s failed its integrity check; nothing was handed over",
                      document_id)
            raise DocumentUnreadable("this document failed its integrity check") from None
        finally:
            blob.close()
        _record_retrieval(pb, vault, document_id)

    return OpenedDocument(msg, stream())


class _Watched(io.RawIOBase):
    """A blob reader that remembers a storage failure, which the opener reports as opaque."""

    def __init__(self, inner: BinaryIO) -> None:
        super().__init__()
        self._inner = inner
        self.failure: StorageError | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            return self._inner.read(size)
        except StorageError as exc:
            self.failure = exc
            raise

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()


def _record_retrieval(pb: Postbox, vault: Vault, document_id: str) -> None:
    try:
        _write_retrieval(pb, vault, document_id)
    except DatabaseProblem:
        # The recipient has the document; a full or failing database must not take it back.
        # The missing evidence is logged loudly for the operator (and reminders go on).
        log.error("retrieval of document %s could not be recorded: the database is "
                  "unavailable or full", document_id)


def _write_retrieval(pb: Postbox, vault: Vault, document_id: str) -> None:
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        doc = s.scalar(select(Document).where(Document.id == document_id).with_for_update())
        if doc is None:
            return
        subject = evidence.Subject(doc.org_id, doc.recipient_id, doc.id, doc.ciphertext_sha256)
        evidence.record(s, pb.keys, "retrieved", subject, now, auth=vault.auth,
                        countersigner=vault.keys)
        first_read = doc.first_read_at is None
        if first_read:
            doc.first_read_at = now
        followups.retrieved(s, doc, now, first_read)
        uow.commit()


def read_all(pb: Postbox, vault: Vault, document_id: str) -> tuple[Message, bytes]:
    """Convenience for small documents and tests: the whole plaintext at once."""
    opened = open_message(pb, vault, document_id)
    return opened.message, b"".join(opened.chunks)


def _set(pb: Postbox, vault: Vault, document_id: str, field: str, value: datetime | None) -> None:
    with pb.uow() as uow:
        doc, _ = _own(uow.session, vault, document_id)
        if field == "deleted_at" and value is None and doc.deleted_at is not None:
            if doc.deleted_at + timedelta(days=RESTORE_DAYS) < pb.clock.now():
                raise NotFound("this message was deleted more than 30 days ago")
        setattr(doc, field, value)
        uow.commit()


def archive(pb: Postbox, vault: Vault, document_id: str) -> None:
    _set(pb, vault, document_id, "archived_at", pb.clock.now())


def unarchive(pb: Postbox, vault: Vault, document_id: str) -> None:
    _set(pb, vault, document_id, "archived_at", None)


def delete(pb: Postbox, vault: Vault, document_id: str) -> None:
    """Soft delete: restorable for 30 days."""
    _set(pb, vault, document_id, "deleted_at", pb.clock.now())


def restore(pb: Postbox, vault: Vault, document_id: str) -> None:
    _set(pb, vault, document_id, "deleted_at", None)
