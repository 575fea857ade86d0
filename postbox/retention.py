"""Retention: documents leave the vault when their organisation's period ends; evidence stays.

Also ends the 30-day undo window of a recipient's delete. A purged document keeps its row (the
evidence refers to it) but loses its blob and its sealed key and metadata. Where the bucket has
Object Lock, the store refuses early erasure; such documents are reported and tried again later.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import or_, select

from postbox.bootstrap import Postbox
from postbox.models import Document, Organisation
from postbox.reading import RESTORE_DAYS
from storage.errors import BlobRetained, StorageError

PURGED = "purged"


@dataclass
class RetentionReport:
    purged: list[str] = field(default_factory=list)
    retained: list[str] = field(default_factory=list)  # Object Lock still holds the blob
    failed: list[str] = field(default_factory=list)


def due(pb: Postbox, limit: int) -> list[tuple[str, str]]:
    """(document id, blob key) of documents past retention or past their undo window.

    One query per organisation with its own cutoff, so no date arithmetic in SQL."""
    now = pb.clock.now()
    undo_cutoff = now - timedelta(days=RESTORE_DAYS)
    picked: list[tuple[str, str]] = []
    with pb.uow() as uow:
        s = uow.session
        for org_id, days in s.execute(select(Organisation.id, Organisation.retention_days)):
            cutoff = now - timedelta(days=days)
            rows = s.execute(
                select(Document.id, Document.blob_key)
                .where(Document.org_id == org_id, Document.status != PURGED,
                       or_(Document.created_at < cutoff, Document.deleted_at < undo_cutoff))
                .order_by(Document.created_at).limit(limit - len(picked)))
            picked.extend((doc_id, key) for doc_id, key in rows)
            if len(picked) >= limit:
                break
    return picked


def apply_retention(pb: Postbox, limit: int = 1000) -> RetentionReport:
    report = RetentionReport()
    for doc_id, key in due(pb, limit):
        try:
            pb.store.purge(key)
        except BlobRetained:
            report.retained.append(doc_id)
            continue
        except StorageError:
            report.failed.append(doc_id)
            continue
        with pb.uow() as uow:
            doc = uow.session.get(Document, doc_id)
            if doc is not None:
                doc.status = PURGED
                doc.sealed_key = b""
                doc.sealed_meta = b""
                doc.deleted_at = doc.deleted_at or pb.clock.now()
            uow.commit()
        report.purged.append(doc_id)
    return report
