"""Batches: create, follow, close (deliver) or cancel; the per-item list and the result report.

A batch is atomic towards recipients (Digipost-style): items are sealed and stored as they
arrive (``postbox.batch_items``) but stay invisible until the batch is closed. Closing starts
delivery, which ``postbox.batch_settle`` carries out in bounded steps (by the close call itself,
by later calls, or by the worker's ``batch_settle`` job); cancelling stops it, and nothing that
was not yet consigned is delivered. Batch creation is idempotent per organisation key, and item
keys are idempotent per batch, so a client killed at any point can run again and send nothing
twice.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from postbox import outbox, validation
from postbox.bootstrap import Postbox
from postbox.errors import Conflict, InvalidInput, NotFound
from postbox.models import Batch, BatchItem, Document, new_id
from postbox.tracking import status_expression
from postbox.writers import write_uow

MAX_ITEMS = 100_000
MAX_PAGE = 1000
IDEMPOTENCY_KEY = r"[\x21-\x7e]{1,200}"
SETTLE_JOB = "batch_settle"


class BatchNotOpen(Conflict):
    """Items can be added only while the batch is open."""

    kind = "batch-not-open"


class BatchFull(Conflict):
    """The batch already holds its maximum number of items."""

    kind = "batch-full"


@dataclass(frozen=True)
class BatchView:
    id: str
    reference: str | None
    state: str
    deliver_to_invited: bool
    max_items: int
    item_count: int
    counts: dict[str, int]
    created_at: datetime
    closed_at: datetime | None
    delivered_at: datetime | None
    cancelled_at: datetime | None
    replayed: bool = False
    held_cases: int = 0  # distinct cases the held items belong to

    @property
    def held_summary(self) -> str | None:
        """"N held for review in M cases": held items are waiting for a person, not failed."""
        held = self.counts.get("held", 0)
        if not held:
            return None
        cases = "case" if self.held_cases == 1 else "cases"
        return f"{held} held for review in {self.held_cases} {cases}"

    @property
    def pending(self) -> int:
        """Items still waiting for the batch to be settled (consigned or cancelled)."""
        return self.counts.get("accepted", 0) if self.state in ("closed", "cancelled") else 0


@dataclass(frozen=True)
class ItemView:
    seq: int
    key: str
    client_ref: str | None
    recipient: str
    status: str
    reason: str | None
    document_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ItemPage:
    items: list[ItemView]
    next_after: int | None


def spreadsheet_safe(value: object) -> str:
    """A report cell no spreadsheet will run as a formula (OWASP "CSV injection"): cells that
    start like a formula get a leading apostrophe."""
    cell = "" if value is None else str(value)
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r", "|", "%") else cell


def find_batch(session: Session, org_id: str, batch_id: str, lock: bool = False) -> Batch:
    query = select(Batch).where(Batch.id == batch_id, Batch.org_id == org_id)
    batch = session.scalar(query.with_for_update() if lock else query)
    if batch is None:
        raise NotFound("no such batch")
    return batch


def _counts(session: Session, batch_id: str) -> dict[str, int]:
    status = status_expression(BatchItem.status)
    rows = session.execute(
        select(status, func.count()).select_from(BatchItem)
        .outerjoin(Document, Document.id == BatchItem.document_id)
        .where(BatchItem.batch_id == batch_id).group_by(status))
    return {name: n for name, n in rows}


def _held_cases(session: Session, batch_id: str) -> int:
    return int(session.scalar(
        select(func.count(func.distinct(Document.case_id))).select_from(BatchItem)
        .join(Document, Document.id == BatchItem.document_id)
        .where(BatchItem.batch_id == batch_id, Document.status == "held")) or 0)


def _view(session: Session, batch: Batch, replayed: bool = False) -> BatchView:
    return BatchView(batch.id, batch.reference, batch.state, batch.deliver_to_invited,
                     batch.max_items, batch.item_count, _counts(session, batch.id),
                     batch.created_at, batch.closed_at, batch.delivered_at, batch.cancelled_at,
                     replayed, _held_cases(session, batch.id))


def _request_hash(reference: str | None, deliver_to_invited: bool, max_items: int) -> str:
    body = json.dumps([reference, deliver_to_invited, max_items], ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def create_batch(pb: Postbox, org_id: str, *, reference: str | None = None,
                 deliver_to_invited: bool = True, max_items: int | None = None,
                 idempotency_key: str | None = None, created_by: str | None = None
                 ) -> BatchView:
    """A new open batch; with an idempotency key, a repeat returns the first batch."""
    if reference is not None:
        reference = validation.display_text(reference, "reference", 200)
    limit = MAX_ITEMS if max_items is None else max_items
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_ITEMS:
        raise InvalidInput(f"max_items must be 1-{MAX_ITEMS}")
    if idempotency_key is not None and not re.fullmatch(IDEMPOTENCY_KEY, idempotency_key):
        raise InvalidInput("an idempotency key is 1-200 printable ASCII characters")
    wanted = _request_hash(reference, deliver_to_invited, limit)
    replay = _replay(pb, org_id, idempotency_key, wanted)
    if replay is not None:
        return replay
    try:
        with pb.uow() as uow:
            batch = Batch(id=new_id(), org_id=org_id, reference=reference,
                          idempotency_key=idempotency_key, request_hash=wanted, state="open",
                          deliver_to_invited=deliver_to_invited, max_items=limit, item_count=0,
                          created_by=created_by, created_at=pb.clock.now())
            uow.session.add(batch)
            uow.commit()
            return _view(uow.session, batch)
    except IntegrityError:
        replay = _replay(pb, org_id, idempotency_key, wanted)  # lost a race on the key
        if replay is None:
            raise
        return replay


def _replay(pb: Postbox, org_id: str, key: str | None, wanted: str) -> BatchView | None:
    if key is None:
        return None
    with pb.uow() as uow:
        batch = uow.session.scalar(select(Batch).where(Batch.org_id == org_id,
                                                       Batch.idempotency_key == key))
        if batch is None:
            return None
        if batch.request_hash != wanted:
            raise Conflict("this Idempotency-Key was already used for a different batch")
        return _view(uow.session, batch, replayed=True)


def get_batch(pb: Postbox, org_id: str, batch_id: str) -> BatchView:
    with pb.uow() as uow:
        return _view(uow.session, find_batch(uow.session, org_id, batch_id))


def state_of(pb: Postbox, org_id: str, batch_id: str) -> str:
    """Just the batch's state (cheap: no counts)."""
    with pb.uow() as uow:
        state = uow.session.scalar(select(Batch.state).where(Batch.id == batch_id,
                                                             Batch.org_id == org_id))
    if state is None:
        raise NotFound("no such batch")
    return state


def list_items(pb: Postbox, org_id: str, batch_id: str, *, after: int = 0, limit: int = 100,
               status: str | None = None) -> ItemPage:
    """Items in submission order after ``after`` (keyset pagination on ``seq``)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1-{MAX_PAGE}")
    with pb.uow() as uow:
        s = uow.session
        find_batch(s, org_id, batch_id)
        effective = status_expression(BatchItem.status)
        query = (select(BatchItem, effective)
                 .outerjoin(Document, Document.id == BatchItem.document_id)
                 .where(BatchItem.batch_id == batch_id, BatchItem.seq > after)
                 .order_by(BatchItem.seq).limit(limit + 1))
        if status is not None:
            query = query.where(effective == status)
        rows = s.execute(query).all()
        items = [ItemView(i.seq, i.key, i.client_ref, i.external_id, st, i.reason,
                          i.document_id, i.created_at, i.updated_at) for i, st in rows[:limit]]
    return ItemPage(items, items[-1].seq if len(rows) > limit else None)


def report(pb: Postbox, org_id: str, batch_id: str, chunk: int = MAX_PAGE) -> Iterator[ItemView]:
    """Every item, in order, read a page at a time (memory stays flat for 100,000 items)."""
    get_batch(pb, org_id, batch_id)  # not found fails before the first byte is sent
    after: int | None = 0
    while after is not None:
        page = list_items(pb, org_id, batch_id, after=after, limit=chunk)
        yield from page.items
        after = page.next_after


def close_batch(pb: Postbox, org_id: str, batch_id: str) -> BatchView:
    """Stop taking items and start delivery (idempotent; a cancelled batch cannot close)."""
    return _transition(pb, org_id, batch_id, "closed")


def cancel_batch(pb: Postbox, org_id: str, batch_id: str) -> BatchView:
    """Deliver nothing more: items not yet consigned are cancelled (idempotent)."""
    return _transition(pb, org_id, batch_id, "cancelled")


def _transition(pb: Postbox, org_id: str, batch_id: str, target: str) -> BatchView:
    now = pb.clock.now()
    with write_uow(pb) as uow:
        s = uow.session
        batch = find_batch(s, org_id, batch_id, lock=True)
        if batch.state == "open" or (target == "cancelled" and batch.state == "closed"):
            batch.state = target
            if target == "closed":
                batch.closed_at = now
            else:
                batch.cancelled_at = now
                # Paper fallbacks of a cancelled batch must not be printed either.
                s.execute(update(BatchItem).where(BatchItem.batch_id == batch.id,
                                                  BatchItem.status == "unreachable")
                          .values(status="cancelled", updated_at=now))
            outbox.enqueue(s, SETTLE_JOB, {"batch_id": batch.id}, at=now,
                           dedupe_key=f"{SETTLE_JOB}:{batch.id}:{target}")
        elif batch.state == "cancelled" and target == "closed":
            raise BatchNotOpen("this batch was cancelled; it cannot be closed")
        elif batch.state == "delivered" and target == "cancelled":
            raise Conflict("this batch was already delivered; there is nothing to cancel")
        uow.commit()
        return _view(s, batch)
