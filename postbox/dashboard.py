"""The organisation's deliveries at a glance, as data: the 30-day funnel, bounces, holds, batches.

The funnel counts documents consigned in the window (``consigned_at``), then of those: notified
(a notice went out: status ``notified`` or a ``notified`` evidence), retrieved (opened), and
unread after 7 days (consigned at least 7 days ago and still unopened). Drawing it is the web
edge's business. Every count is one aggregate query, so the page costs the same for ten
documents or ten million.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select

from postbox.batches import BatchView, get_batch
from postbox.bootstrap import Postbox
from postbox.models import Batch, Case, Document, Evidence, Recipient, RecipientLink
from postbox.orgs import find_org

WINDOW_DAYS = 30
UNREAD_DAYS = 7
MAX_BATCHES = 200


@dataclass(frozen=True)
class Funnel:
    since: datetime
    until: datetime
    consigned: int
    notified: int
    retrieved: int
    unread_after_7_days: int


@dataclass(frozen=True)
class Overview:
    funnel: Funnel
    daily: tuple[tuple[date, int], ...]  # documents consigned per UTC day, oldest first
    bouncing: int  # recipients whose notice e-mail bounces
    held_documents: int
    held_cases: int
    batches_in_progress: int


@dataclass(frozen=True)
class BouncingRecipient:
    external_id: str
    unread: int  # this organisation's documents they have not opened


def _sum(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def overview(pb: Postbox, org_ref: str) -> Overview:
    now = pb.clock.now()
    today = datetime.combine(now.date(), time(), tzinfo=UTC)
    days = [today - timedelta(days=n) for n in range(WINDOW_DAYS - 1, -1, -1)]
    since = days[0]
    week_ago = now - timedelta(days=UNREAD_DAYS)
    with pb.uow() as uow:
        s = uow.session
        org = find_org(s, org_ref)
        notified = or_(Document.status == "notified",
                       exists().where(Evidence.document_id == Document.id,
                                      Evidence.event == "notified"))
        per_day = [_sum(and_(Document.consigned_at >= day,
                             Document.consigned_at < day + timedelta(days=1)))
                   for day in days]
        row = s.execute(select(
            func.count(), _sum(notified), _sum(Document.first_read_at.is_not(None)),
            _sum(and_(Document.consigned_at <= week_ago, Document.first_read_at.is_(None))),
            *per_day,
        ).where(Document.org_id == org.id, Document.consigned_at >= since,
                Document.consigned_at <= now)).one()
        held_documents = s.scalar(select(func.count()).select_from(Document).where(
            Document.org_id == org.id, Document.status == "held")) or 0
        held_cases = s.scalar(select(func.count()).select_from(Case).where(
            Case.org_id == org.id, Case.state == "on_hold")) or 0
        in_progress = s.scalar(select(func.count()).select_from(Batch).where(
            Batch.org_id == org.id, Batch.state.in_(("open", "closed")))) or 0
        bouncing = s.scalar(select(func.count(func.distinct(Recipient.id))).join(
            RecipientLink, RecipientLink.recipient_id == Recipient.id).where(
            RecipientLink.org_id == org.id, Recipient.email_bouncing.is_(True))) or 0
    counts = [int(v or 0) for v in row]
    return Overview(Funnel(since, now, *counts[:4]),
                    tuple((day.date(), n) for day, n in zip(days, counts[4:])),
                    bouncing, held_documents, held_cases, in_progress)


def bouncing(pb: Postbox, org_ref: str, limit: int = 500) -> list[BouncingRecipient]:
    """The recipients behind the bounce count, with how much of ours they have not opened."""
    with pb.uow() as uow:
        s = uow.session
        org = find_org(s, org_ref)
        unread = (select(func.count()).where(
            Document.org_id == org.id, Document.recipient_id == Recipient.id,
            Document.consigned_at.is_not(None), Document.first_read_at.is_(None),
            Document.status.in_(("consigned", "notified"))).scalar_subquery())
        rows = s.execute(select(RecipientLink.external_id, unread)
                         .join(Recipient, Recipient.id == RecipientLink.recipient_id)
                         .where(RecipientLink.org_id == org.id,
                                Recipient.email_bouncing.is_(True))
                         .order_by(RecipientLink.external_id).limit(limit))
        return [BouncingRecipient(external_id, int(n or 0)) for external_id, n in rows]


def recent_batches(pb: Postbox, org_id: str, limit: int = 50) -> list[BatchView]:
    """The organisation's newest batches with their progress and status counts."""
    limit = max(1, min(limit, MAX_BATCHES))
    with pb.uow() as uow:
        ids = list(uow.session.scalars(select(Batch.id).where(Batch.org_id == org_id)
                                       .order_by(Batch.created_at.desc(), Batch.id)
                                       .limit(limit)))
    return [get_batch(pb, org_id, batch_id) for batch_id in ids]
