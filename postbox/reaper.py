"""The reaper: removes blobs whose delivery never committed (crash between put and commit).

Every delivery commits an intent row before writing its blob and deletes it in the same
transaction that commits the document. An intent older than the grace period therefore marks
either a committed document (drop the intent) or an orphan blob (delete blob, then intent).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select

from postbox.bootstrap import Postbox
from postbox.models import DelegateStanza, Document, PendingBlob
from storage.errors import BlobNotFound, StorageError

GRACE = timedelta(minutes=15)


@dataclass
class ReapReport:
    removed: list[str] = field(default_factory=list)
    committed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stanzas: int = 0  # delegate stanzas of documents that never committed


def reap_orphans(pb: Postbox, grace: timedelta = GRACE, limit: int = 1000) -> ReapReport:
    report = ReapReport()
    cutoff = pb.clock.now() - grace
    with pb.uow() as uow:
        keys = list(uow.session.scalars(select(PendingBlob.blob_key)
                                        .where(PendingBlob.created_at < cutoff).limit(limit)))
    for key in keys:
        with pb.uow() as uow:
            referenced = uow.session.scalar(select(Document.id).where(Document.blob_key == key))
        if referenced is None:
            try:
                pb.store.delete(key)
            except BlobNotFound:
                pass
            except StorageError:
                report.failed.append(key)
                continue
            report.removed.append(key)
        else:
            report.committed.append(key)
        with pb.uow() as uow:
            uow.session.execute(delete(PendingBlob).where(PendingBlob.blob_key == key))
            uow.commit()
    report.stanzas = _reap_stanzas(pb, cutoff, limit)
    return report


def _reap_stanzas(pb: Postbox, cutoff: datetime, limit: int) -> int:
    """Delegate stanzas are written before their document's blob (postbox/delegation_keys.py);
    a delivery that then failed leaves stanzas for a document that never came to be."""
    with pb.uow() as uow:
        s = uow.session
        gone = list(s.execute(
            select(DelegateStanza.grant_id, DelegateStanza.document_id)
            .where(DelegateStanza.created_at < cutoff,
                   ~exists().where(Document.id == DelegateStanza.document_id))
            .limit(limit)).all())
        for grant_id, document_id in gone:
            s.execute(delete(DelegateStanza).where(DelegateStanza.grant_id == grant_id,
                                                   DelegateStanza.document_id == document_id))
        uow.commit()
    return len(gone)
