"""The documents of one postbox export: read in pages, decrypted in pieces, handed over on record.

Rows come in keyset pages from short read sessions on the plain engine (no long transaction,
no write lock held while the client downloads). Plaintext comes from ``open_document`` in
bounded pieces; an integrity failure or a store outage raises before the document's last
piece, so the caller never finishes the member. ``record_export_retrieval`` writes the
``retrieved`` evidence (countersigned by the recipient's key, ``details.reason = "export"``)
once the caller has handed the last byte on, as ``reading`` does for a single download.
"""
from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, BinaryIO

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from crypto.envelope import DocumentAddress, open_document, open_metadata
from crypto.errors import OpenError
from postbox import evidence, followups
from postbox.auth import Vault
from postbox.bootstrap import Postbox
from postbox.errors import DatabaseProblem, storage_problem
from postbox.models import Case, Document, Organisation
from postbox.reading import VISIBLE, DocumentUnreadable
from storage.errors import StorageError

log = logging.getLogger("postbox.portability")
PAGE = 200
EXPORT_REASON = "export"


@dataclass(frozen=True)
class ExportedDocument:
    """What the export needs of one document row (plain values: the session is gone)."""

    id: str
    org_id: str
    org_slug: str
    org_name: str
    case_id: str | None
    case_reference: str | None
    blob_key: str
    key_version: int
    sealed_key: bytes
    sealed_meta: bytes
    content_type: str
    size: int
    ciphertext_sha256: str
    received_at: datetime
    due_date: date | None
    read_at: datetime | None
    archived: bool
    deleted: bool
    superseded_by: str | None
    retracted: bool
    recipient_id: str
    created_at: datetime  # the keyset column (received_at is when it was consigned)

    @property
    def address(self) -> DocumentAddress:
        return DocumentAddress(self.id, self.recipient_id, self.key_version)

    @property
    def folder(self) -> str:
        return "deleted" if self.deleted else "archive" if self.archived else "inbox"


def documents(pb: Postbox, recipient_id: str, page: int = PAGE) -> Iterator[ExportedDocument]:
    """Every document the recipient can see, oldest first, read ``page`` rows at a time."""
    after: tuple[datetime, str] | None = None
    while True:
        query = (select(Document, Organisation.slug, Organisation.name, Case.reference)
                 .join(Organisation, Organisation.id == Document.org_id)
                 .outerjoin(Case, Case.id == Document.case_id)
                 .where(Document.recipient_id == recipient_id, Document.status.in_(VISIBLE))
                 .order_by(Document.created_at, Document.id).limit(page))
        if after is not None:
            query = query.where(or_(Document.created_at > after[0],
                                    and_(Document.created_at == after[0],
                                         Document.id > after[1])))
        with Session(pb.engine) as s:
            rows = [_snapshot(doc, slug, name, ref) for doc, slug, name, ref in s.execute(query)]
        yield from rows
        if len(rows) < page:
            return
        after = (rows[-1].created_at, rows[-1].id)


def _snapshot(doc: Document, slug: str, name: str, reference: str | None) -> ExportedDocument:
    return ExportedDocument(
        doc.id, doc.org_id, slug, name, doc.case_id, reference, doc.blob_key, doc.key_version,
        bytes(doc.sealed_key), bytes(doc.sealed_meta), doc.content_type, doc.plaintext_size,
        doc.ciphertext_sha256, doc.consigned_at or doc.created_at, doc.due_date,
        doc.first_read_at, doc.archived_at is not None, doc.deleted_at is not None,
        doc.superseded_by, doc.retracted_at is not None, doc.recipient_id, doc.created_at)


def metadata(vault: Vault, doc: ExportedDocument) -> dict[str, Any] | None:
    """Subject, file name and commitment salt; None when the sealed metadata does not open."""
    try:
        return open_metadata(doc.sealed_key, doc.sealed_meta, doc.address, vault.keys.x25519)
    except OpenError:
        return None


def commitment_salt(meta: dict[str, Any] | None) -> bytes | None:
    try:
        return base64.b64decode(meta["commitment_salt"], validate=True) if meta else None
    except (KeyError, TypeError, ValueError):
        return None


def plaintext(pb: Postbox, vault: Vault, doc: ExportedDocument) -> Iterator[bytes]:
    """The document's plaintext in bounded pieces; raises (never ends cleanly) on failure."""
    try:
        blob = _Watched(pb.store.open(doc.blob_key))
    except StorageError as exc:
        raise storage_problem(exc) from exc
    try:
        yield from open_document(blob, doc.address, vault.keys.x25519)  # type: ignore[arg-type]
    except OpenError:
        if blob.failure is not None:  # the store failed mid-read: an outage, not tampering
            raise storage_problem(blob.failure) from blob.failure
        log.error("document %s failed its integrity check during an export; the export was "
                  "aborted and nothing of it counts as handed over", doc.id)
        raise DocumentUnreadable("this document failed its integrity check") from None
    finally:
        blob.close()


class _Watched(io.RawIOBase):
    """A blob reader that remembers a storage failure (the opener reports every failure the
    same way, but an outage is not tampering)."""

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

    def close(self) -> None:
        self._inner.close()
        super().close()


def record_export_retrieval(pb: Postbox, vault: Vault, auth: dict[str, Any],
                            document_id: str) -> bool:
    """One ``retrieved`` evidence, reason "export"; False (logged) if the database failed."""
    now = pb.clock.now()
    try:
        with pb.uow() as uow:
            s = uow.session
            doc = s.scalar(select(Document).where(Document.id == document_id).with_for_update())
            if doc is None:
                return False
            subject = evidence.Subject(doc.org_id, doc.recipient_id, doc.id,
                                       doc.ciphertext_sha256)
            evidence.record(s, pb.keys, "retrieved", subject, now, auth=auth,
                            details={"reason": EXPORT_REASON}, countersigner=vault.keys)
            first_read = doc.first_read_at is None
            if first_read:
                doc.first_read_at = now
            followups.retrieved(s, doc, now, first_read)
            uow.commit()
    except DatabaseProblem:
        # The recipient has the bytes; a full or failing database must not take them back.
        log.error("the export of document %s could not be recorded: the database is "
                  "unavailable or full", document_id)
        return False
    return True
