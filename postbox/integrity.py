"""Storage integrity: read blobs back and compare them with what the database recorded.

Finds missing blobs (recorded, not stored), corrupt blobs (size or SHA-256 differ) and orphans
(stored, referenced by nothing and not a delivery in flight).
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from sqlalchemy import func, select

from postbox.bootstrap import Postbox
from postbox.models import Document, PendingBlob
from storage.errors import BlobNotFound, StorageError

PIECE = 1 << 16


@dataclass
class IntegrityReport:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupt or self.orphans or self.unreadable)


def _digest(pb: Postbox, key: str) -> tuple[int, str]:
    h, size = hashlib.sha256(), 0
    with pb.store.open(key) as fh:
        while piece := fh.read(PIECE):
            h.update(piece)
            size += len(piece)
    return size, h.hexdigest()


def check_storage(pb: Postbox, sample: int | None = None, orphans: bool = True,
                  rng: random.Random | None = None) -> IntegrityReport:
    """Check every document's blob (or a random ``sample``); list orphans when asked."""
    report = IntegrityReport()
    with pb.uow() as uow:
        s = uow.session
        query = select(Document.id, Document.blob_key, Document.ciphertext_size,
                       Document.ciphertext_sha256).where(
            Document.status.not_in(("purged", "cancelled")))  # their blobs are gone on purpose
        if sample is not None:
            total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
            chosen = (rng or random.SystemRandom()).sample(range(total), min(sample, total))
            rows = [s.execute(query.order_by(Document.id).offset(i).limit(1)).one()
                    for i in sorted(chosen)]
        else:
            rows = list(s.execute(query))
        known = {r.blob_key for r in rows} if sample is None else set()
        pending = set(s.scalars(select(PendingBlob.blob_key))) if orphans else set()
    for doc_id, key, size, sha in rows:
        report.checked += 1
        try:
            got = _digest(pb, key)
        except BlobNotFound:
            report.missing.append(doc_id)
            continue
        except StorageError:
            report.unreadable.append(doc_id)
            continue
        if got != (size, sha):
            report.corrupt.append(doc_id)
    if orphans and sample is None:
        report.orphans = [k for k in pb.store.list("docs/") if k not in known and k not in pending]
    return report
