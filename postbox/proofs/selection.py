"""What a proof bundle covers: a selection of documents, checked against the organisation.

Criteria combine (AND): a document, a batch, a recipient, a period; at least one is needed. A
bundle always holds every evidence of each document the selection touches, from the first
record of its chain (a period that catches only a retrieval still brings the submission), so
its ``prev`` chains verify from their start.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from postbox.bootstrap import Postbox
from postbox.errors import InvalidInput, NotFound
from postbox.models import Batch, Document, Evidence, Recipient, RecipientLink
from postbox.orgs import find_org
from postbox.proofs import format as fmt

_ID_CHARS = set("0123456789abcdef")


@dataclass(frozen=True)
class Selection:
    """What a bundle covers; ``org_id`` limits it to one organisation's evidence."""

    org_id: str | None = None
    document: str | None = None
    batch: str | None = None
    recipient: str | None = None  # the recipient's own (pseudonymous) id
    since: datetime | None = None
    until: datetime | None = None

    @property
    def kind(self) -> str:
        for name in ("document", "batch", "recipient"):
            if getattr(self, name) is not None:
                return name
        return "period"

    def describe(self) -> dict[str, Any]:
        """The selection as the manifest states it (and the verifier checks it)."""
        out: dict[str, Any] = {"kind": self.kind, "org": self.org_id}
        for name in ("document", "batch", "recipient"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.since is not None:
            out["since"] = fmt.stamp(self.since)
        if self.until is not None:
            out["until"] = fmt.stamp(self.until)
        return out


def _is_id(value: str) -> bool:
    return len(value) == 32 and set(value) <= _ID_CHARS


def _moment(value: datetime | date | None, end: bool) -> datetime | None:
    """A datetime as given (naive: UTC); a date means the whole day (``until`` inclusive)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value + timedelta(days=1) if end else value, time(), tzinfo=UTC)


def select_evidence(pb: Postbox, *, document: str | None = None, batch: str | None = None,
                    recipient: str | None = None, since: datetime | date | None = None,
                    until: datetime | date | None = None, org: str | None = None) -> Selection:
    """Check a selection and that what it names exists within ``org`` (slug or id; a recipient
    is then named by the org's external id, else by its own id)."""
    start, end = _moment(since, False), _moment(until, True)
    if document is None and batch is None and recipient is None and start is None \
            and end is None:
        raise InvalidInput("choose what to export: a document, a batch, a recipient or a "
                           "period (since/until)")
    if start is not None and end is not None and end <= start:
        raise InvalidInput("the period ends before it starts")
    with Session(pb.engine) as s:
        org_id = find_org(s, org).id if org is not None else None
        if document is not None:
            doc = s.get(Document, document) if _is_id(document) else None
            owner = doc.org_id if doc is not None else s.scalar(
                select(Evidence.org_id).where(Evidence.document_id == document).limit(1))
            if owner is None or (org_id is not None and owner != org_id):
                raise NotFound("no such document")
        if batch is not None:
            row = s.get(Batch, batch) if _is_id(batch) else None
            if row is None or (org_id is not None and row.org_id != org_id):
                raise NotFound("no such batch")
        rid = None
        if recipient is not None:
            if org_id is not None:
                rid = s.scalar(select(RecipientLink.recipient_id).where(
                    RecipientLink.org_id == org_id, RecipientLink.external_id == recipient))
            if rid is None and _is_id(recipient) and s.get(Recipient, recipient) is not None:
                rid = recipient
            if rid is None:
                raise NotFound("no such recipient")
    return Selection(org_id, document, batch, rid, start, end)


def condition(sel: Selection) -> Any:
    """Every evidence of every document the selection touches (an SQL condition)."""
    base = [c for c in (
        Evidence.org_id == sel.org_id if sel.org_id is not None else None,
        Evidence.document_id == sel.document if sel.document is not None else None,
        Evidence.document_id.in_(select(Document.id).where(Document.batch_id == sel.batch))
        if sel.batch is not None else None,
        Evidence.recipient_id == sel.recipient if sel.recipient is not None else None,
    ) if c is not None]
    if sel.since is None and sel.until is None:
        return and_(*base)
    period = [c for c in (Evidence.created_at >= sel.since if sel.since else None,
                          Evidence.created_at < sel.until if sel.until else None)
              if c is not None]
    touched = select(Evidence.document_id).where(Evidence.document_id.is_not(None), *base,
                                                 *period)
    return or_(Evidence.document_id.in_(touched),
               and_(Evidence.document_id.is_(None), *base, *period))
