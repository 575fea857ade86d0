"""Delivery: check, seal for the one recipient, store, then commit the record and its evidence.

The blob is written before the database commit and outside any transaction; an intent row
(``pending_blobs``) committed first lets the reaper remove the blob if the commit never happens.
An idempotency key makes a retried delivery return the first result instead of a second copy.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import BinaryIO

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto.envelope import DocumentAddress
from postbox import delegation_keys, evidence, followups, validation, webhooks
from postbox.bootstrap import Postbox
from postbox.cases import holds_delivery
from postbox.errors import (
    Conflict, DocumentTooLarge, InvalidInput, UnsupportedDocumentType, storage_problem,
)
from postbox.models import Case, Document, Outbox, PendingBlob, new_id
from postbox.orgs import find_org
from postbox.recipients import find_linked
from storage.errors import StorageError

SNIFF_BYTES = 1024
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")


@dataclass(frozen=True)
class DeliveryReceipt:
    document_id: str
    recipient_id: str
    status: str
    ciphertext_sha256: str
    plaintext_size: int
    created_at: datetime
    replayed: bool = False


def sniff(head: bytes) -> str | None:
    """The content type the bytes themselves declare (never the file name)."""
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None


class _Checked(io.RawIOBase):
    """The sniffed head, then the rest of the stream; refuses to go past ``limit`` bytes and
    optionally hashes the plaintext (for idempotency comparisons)."""

    def __init__(self, head: bytes, rest: BinaryIO, limit: int, digest: bool) -> None:
        super().__init__()
        self._head, self._rest, self._limit = head, rest, limit
        self.size = 0
        self.sha256 = hashlib.sha256() if digest else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "bytearray | memoryview") -> int:  # type: ignore[override]
        if self._head:
            data, self._head = self._head[: len(buffer)], self._head[len(buffer):]
        else:
            data = self._rest.read(len(buffer))
        self.size += len(data)
        if self.size > self._limit:
            raise DocumentTooLarge(f"the document is larger than {self._limit} bytes")
        if self.sha256 is not None:
            self.sha256.update(data)
        buffer[: len(data)] = data
        return len(data)


def _request_hash(external_id: str, subject: str, filename: str, case: str | None,
                  automated: bool, due: date | None, content_sha256: str) -> str:
    fields = [external_id, subject, filename, case, automated,
              due.isoformat() if due else None, content_sha256]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()


def _receipt(doc: Document, replayed: bool) -> DeliveryReceipt:
    return DeliveryReceipt(doc.id, doc.recipient_id, doc.status, doc.ciphertext_sha256,
                           doc.plaintext_size, doc.created_at, replayed)


def _replay(session: Session, org_id: str, key: str, request_hash: str) -> DeliveryReceipt | None:
    doc = session.scalar(select(Document).where(Document.org_id == org_id,
                                                Document.idempotency_key == key))
    if doc is None:
        return None
    if doc.request_hash != request_hash:
        raise Conflict("this Idempotency-Key was already used for a different document")
    return _receipt(doc, replayed=True)


def _case(session: Session, org_id: str, reference: str | None, now: datetime) -> str | None:
    if reference is None:
        return None
    case = session.scalar(select(Case).where(Case.org_id == org_id, Case.reference == reference))
    if case is None:
        case = Case(id=new_id(), org_id=org_id, reference=reference, created_at=now,
                    updated_at=now)
        session.add(case)
    return case.id


def deliver(
    pb: Postbox,
    org_ref: str,
    external_id: str,
    stream: BinaryIO,
    subject: str,
    filename: str,
    *,
    case: str | None = None,
    automated: bool = False,
    due_date: date | None = None,
    idempotency_key: str | None = None,
) -> DeliveryReceipt:
    """Seal ``stream`` for the organisation's recipient ``external_id`` and consign it."""
    submitted = pb.clock.now()
    subject = validation.display_text(subject, "subject", 200)
    filename = validation.filename(filename)
    external_id = validation.external_id(external_id)
    case = validation.case_reference(case) if case is not None else None
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise InvalidInput("an idempotency key is 1-200 printable ASCII characters")
    head = stream.read(SNIFF_BYTES)
    if not head:
        raise InvalidInput("the document is empty")
    content_type = sniff(head)
    if content_type not in pb.settings.allowed_types:
        raise UnsupportedDocumentType("only PDF documents are accepted (checked by content)")
    checked = _Checked(head, stream, pb.settings.max_document_bytes, idempotency_key is not None)

    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        recipient = find_linked(uow.session, org.id, external_id)
        org_id, recipient_id, public = org.id, recipient.id, recipient.x25519_public
        key_version = recipient.key_version
        known = idempotency_key is not None and uow.session.scalar(
            select(Document.id).where(Document.org_id == org_id,
                                      Document.idempotency_key == idempotency_key))
    if known:  # a retry: compare content, store nothing
        while checked.read(1 << 16):
            pass
        return _replay_after(pb, org_id, idempotency_key, checked, external_id, subject,
                             filename, case, automated, due_date)

    document_id = new_id()
    blob_key = f"docs/{document_id[:2]}/{document_id[2:4]}/{document_id}"
    with pb.uow() as uow:
        uow.session.add(PendingBlob(blob_key=blob_key, created_at=submitted))
        uow.commit()
    address = DocumentAddress(document_id, recipient_id, key_version)
    sealer = delegation_keys.seal_document(pb, org_id, checked, address, public, {
        "subject": subject, "filename": filename, "content_type": content_type})
    try:
        pb.store.put(blob_key, sealer)  # type: ignore[arg-type]
    except StorageError as exc:
        # The store may have kept the object although the call failed (a lost reply): try to
        # delete it; if that fails too, the intent row stays and the reaper finishes the job.
        _discard_blob(pb, blob_key)
        raise storage_problem(exc) from exc
    except BaseException:
        _discard_blob(pb, blob_key)
        raise
    sealed = sealer.result()
    request_hash = (_request_hash(external_id, subject, filename, case, automated, due_date,
                                  checked.sha256.hexdigest()) if checked.sha256 else None)
    consigned = pb.clock.now()
    try:
        with pb.uow() as uow:
            s = uow.session
            case_id = _case(s, org_id, case, consigned)
            held = holds_delivery(s, case_id, automated)  # the case waits for a person
            doc = Document(
                id=document_id, org_id=org_id, recipient_id=recipient_id,
                case_id=case_id, key_version=key_version,
                blob_key=blob_key, sealed_key=sealed.stanza, sealed_meta=sealed.sealed_meta,
                ciphertext_sha256=sealed.ciphertext_sha256, ciphertext_size=sealed.ciphertext_size,
                plaintext_size=sealed.plaintext_size, content_type=content_type,
                automated=automated, due_date=due_date, status="held" if held else "consigned",
                idempotency_key=idempotency_key, request_hash=request_hash,
                created_at=submitted, consigned_at=None if held else consigned)
            s.add(doc)
            subject_ref = evidence.Subject(org_id, recipient_id, document_id,
                                           sealed.ciphertext_sha256, sealed.plaintext_commitment)
            evidence.record(s, pb.keys, "submission_accepted", subject_ref, submitted)
            if held:
                evidence.record(s, pb.keys, "held", subject_ref, consigned,
                                details={"case": case})
                webhooks.emit_document_event(s, "held", org_id, recipient_id, document_id,
                                             consigned, case=case)
            else:
                evidence.record(s, pb.keys, "consigned", subject_ref, consigned)
                s.add(Outbox(id=new_id(), kind="notice", created_at=consigned,
                             run_after=consigned,
                             payload=json.dumps({"recipient_id": recipient_id,
                                                 "document_id": document_id})))
                followups.consigned(s, doc, consigned)
            s.execute(delete(PendingBlob).where(PendingBlob.blob_key == blob_key))
            uow.commit()
            return _receipt(doc, replayed=False)
    except IntegrityError:
        # Lost a race on the idempotency key: drop our copy, answer like the winner.
        _discard_blob(pb, blob_key)
        if idempotency_key is None:
            raise
        return _replay_after(pb, org_id, idempotency_key, checked, external_id, subject,
                             filename, case, automated, due_date)
    except BaseException:
        _discard_blob(pb, blob_key)
        raise


def _replay_after(pb: Postbox, org_id: str, key: str | None, checked: _Checked,
                  external_id: str, subject: str, filename: str, case: str | None,
                  automated: bool, due: date | None) -> DeliveryReceipt:
    assert key is not None and checked.sha256 is not None  # guarded by the callers
    wanted = _request_hash(external_id, subject, filename, case, automated, due,
                           checked.sha256.hexdigest())
    with pb.uow() as uow:
        receipt = _replay(uow.session, org_id, key, wanted)
    if receipt is None:
        raise Conflict("a concurrent delivery with this Idempotency-Key failed; retry")
    return receipt


def _forget_intent(pb: Postbox, blob_key: str) -> None:
    with pb.uow() as uow:
        uow.session.execute(delete(PendingBlob).where(PendingBlob.blob_key == blob_key))
        uow.commit()


def _discard_blob(pb: Postbox, blob_key: str) -> None:
    """Best effort; if this fails too, the intent row stays and the reaper finishes the job."""
    try:
        pb.store.delete(blob_key)
    except StorageError:
        return
    try:
        _forget_intent(pb, blob_key)
    except Exception:  # noqa: BLE001 - the reaper will retry from the intent row
        return
