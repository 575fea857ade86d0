"""What a sender may know about its documents: status, evidence, and the status vocabulary.

Statuses seen by senders: ``accepted`` (stored, waiting for its batch to close), ``consigned``,
``notified``, ``retrieved`` (the recipient opened it), ``held`` (its case is on hold),
``cancelled``, ``purged`` (content erased after the retention period; the evidence stays);
batch items add ``unreachable`` and ``rejected`` (with a reason). Another
organisation's document is "not found", never "forbidden".
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, select

from postbox.bootstrap import Postbox
from postbox.errors import NotFound
from postbox.evidence import for_document
from postbox.models import Case, Document, RecipientLink

STATUSES = ("accepted", "consigned", "notified", "retrieved", "held", "cancelled", "purged",
            "unreachable", "rejected")


def status_expression(fallback: Any = None) -> ColumnElement[str]:
    """SQL for a document's status as senders see it (``retrieved`` once opened)."""
    return case((Document.status.in_(("purged", "cancelled")), Document.status),
                (Document.first_read_at.is_not(None), "retrieved"),
                (Document.id.is_not(None), Document.status),
                else_=fallback)


@dataclass(frozen=True)
class EvidenceView:
    id: str
    event: str
    time: datetime
    record_hash: str
    key_id: str | None
    body: str  # canonical JSON, exactly the signed bytes
    signature: str | None  # base64
    countersignature: str | None  # base64 (``retrieved`` only)
    leaf_index: int | None


@dataclass(frozen=True)
class DocumentStatus:
    id: str
    recipient: str | None  # the organisation's external id for the recipient
    status: str
    batch_id: str | None
    case: str | None
    automated: bool
    due_date: date | None
    ciphertext_sha256: str
    size: int
    submitted_at: datetime
    consigned_at: datetime | None
    retrieved_at: datetime | None
    evidence: list[EvidenceView]


def _b64(value: bytes | None) -> str | None:
    return base64.b64encode(value).decode() if value is not None else None


def document_status(pb: Postbox, org_id: str, document_id: str) -> DocumentStatus:
    """One of the organisation's documents with its evidence in chain order."""
    with pb.uow() as uow:
        s = uow.session
        row = s.execute(
            select(Document, RecipientLink.external_id, Case.reference, status_expression())
            .outerjoin(RecipientLink, (RecipientLink.org_id == Document.org_id)
                       & (RecipientLink.recipient_id == Document.recipient_id))
            .outerjoin(Case, Case.id == Document.case_id)
            .where(Document.id == document_id, Document.org_id == org_id)).first()
        if row is None:
            raise NotFound("no such document")
        doc, external_id, reference, status = row
        records = [EvidenceView(e.id, e.event, e.created_at, e.record_hash, e.key_id,
                                e.body.decode("utf-8"), _b64(e.signature),
                                _b64(e.countersignature), e.leaf_index)
                   for e in for_document(s, doc.id)]
        return DocumentStatus(doc.id, external_id, status, doc.batch_id, reference,
                              doc.automated, doc.due_date, doc.ciphertext_sha256,
                              doc.plaintext_size, doc.created_at, doc.consigned_at,
                              doc.first_read_at, records)
