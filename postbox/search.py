"""Finding an organisation's deliveries: by recipient external id, document, batch, case or
period (submission date, UTC, both ends inclusive). What a compliance officer starts from before
looking at a document's evidence or exporting proof. Another organisation's documents are
never found.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from postbox import validation
from postbox.bootstrap import Postbox
from postbox.errors import InvalidInput
from postbox.models import Case, Document, RecipientLink
from postbox.orgs import find_org
from postbox.tracking import status_expression

MAX_PER_PAGE = 100
_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class DeliveryQuery:
    external_id: str | None = None
    document_id: str | None = None
    batch_id: str | None = None
    case: str | None = None
    since: date | None = None
    until: date | None = None

    @property
    def empty(self) -> bool:
        return not any((self.external_id, self.document_id, self.batch_id, self.case,
                        self.since, self.until))


@dataclass(frozen=True)
class DeliveryRow:
    document_id: str
    recipient: str | None  # the organisation's external id for the recipient
    status: str
    submitted_at: datetime
    consigned_at: datetime | None
    retrieved_at: datetime | None
    batch_id: str | None
    case: str | None


@dataclass(frozen=True)
class DeliveryPage:
    rows: list[DeliveryRow]
    page: int
    has_more: bool


def _id(value: str | None, what: str) -> str | None:
    if not value:
        return None
    value = value.strip().lower()
    if not _ID.fullmatch(value):
        raise InvalidInput(f"a {what} id is 32 hexadecimal characters")
    return value


def parse_day(text: str | None) -> date | None:
    """A day written as YYYY-MM-DD (what a date field sends), or None when empty."""
    if not text or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput("a date is written as YYYY-MM-DD") from None


def normalised(query: DeliveryQuery) -> DeliveryQuery:
    """The query with its values checked (raises InvalidInput for a malformed one)."""
    if query.since and query.until and query.since > query.until:
        raise InvalidInput("the period starts after it ends")
    return DeliveryQuery(
        validation.external_id(query.external_id.strip()) if query.external_id else None,
        _id(query.document_id, "document"), _id(query.batch_id, "batch"),
        validation.case_reference(query.case.strip()) if query.case else None,
        query.since, query.until)


def find(pb: Postbox, org_ref: str, query: DeliveryQuery, page: int = 1,
         per_page: int = 50) -> DeliveryPage:
    """Matching deliveries, newest first."""
    query = normalised(query)
    page, per_page = max(1, page), max(1, min(per_page, MAX_PER_PAGE))
    with pb.uow() as uow:
        s = uow.session
        org = find_org(s, org_ref)
        q = (select(Document, RecipientLink.external_id, Case.reference, status_expression())
             .outerjoin(RecipientLink, (RecipientLink.org_id == Document.org_id)
                        & (RecipientLink.recipient_id == Document.recipient_id))
             .outerjoin(Case, Case.id == Document.case_id)
             .where(Document.org_id == org.id))
        if query.external_id:
            q = q.where(RecipientLink.external_id == query.external_id)
        if query.document_id:
            q = q.where(Document.id == query.document_id)
        if query.batch_id:
            q = q.where(Document.batch_id == query.batch_id)
        if query.case:
            q = q.where(Case.reference == query.case)
        if query.since:
            q = q.where(Document.created_at >= datetime.combine(query.since, time(),
                                                                tzinfo=UTC))
        if query.until:
            q = q.where(Document.created_at < datetime.combine(
                query.until + timedelta(days=1), time(), tzinfo=UTC))
        rows = s.execute(q.order_by(Document.created_at.desc(), Document.id)
                         .offset((page - 1) * per_page).limit(per_page + 1)).all()
        found = [DeliveryRow(d.id, ext, status, d.created_at, d.consigned_at, d.first_read_at,
                             d.batch_id, ref) for d, ext, ref, status in rows[:per_page]]
    return DeliveryPage(found, page, len(rows) > per_page)
