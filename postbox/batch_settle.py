"""Settling a closed or cancelled batch: consign (or cancel) its accepted items in bounded steps.

Each step is one transaction over at most ``CHUNK`` items, taken under the batch row's lock, so
a concurrent ``cancel`` either comes before a step (which then consigns nothing) or after it
(which then counts as delivered). Consigning writes what a single delivery writes at once:
``consigned`` evidence and a notice job; an automated item in a case that is on hold is held
instead (``postbox.cases``), like any delivery. Cancelling writes ``cancelled`` evidence, forgets
the sealed key and removes the blob.

Work is bounded per call (``max_items``), never by time, so a web request can do some of it
and return; whatever remains is done by the next call or by the ``batch_settle`` outbox job
(:func:`run_job`), and a step that dies is simply done again: only items still ``accepted``
move.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from postbox import evidence, followups, outbox, webhooks
from postbox.bootstrap import Postbox
from postbox.cases import holds_delivery
from postbox.models import Batch, BatchItem, Document, Outbox, new_id
from postbox.writers import write_uow
from storage.errors import StorageError

CHUNK = 200
log = logging.getLogger("postbox.batches")


def settle(pb: Postbox, batch_id: str, max_items: int | None = None) -> bool:
    """Move up to ``max_items`` (all when None) accepted items on; True when none remain."""
    done = 0
    while max_items is None or done < max_items:
        step = CHUNK if max_items is None else min(CHUNK, max_items - done)
        moved, finished = _step(pb, batch_id, step)
        done += moved
        if finished:
            return True
    return False


_ACCEPTED = (select(BatchItem.id, BatchItem.commitment, Document.id.label("document_id"),
                    Document.org_id, Document.recipient_id, Document.ciphertext_sha256,
                    Document.case_id, Document.automated, Document.blob_key,
                    Document.evidence_head)
             .join(Document, Document.id == BatchItem.document_id)
             .where(BatchItem.batch_id == bindparam("batch_id"),
                    BatchItem.status == "accepted")
             .order_by(BatchItem.seq).limit(bindparam("limit"))
             # The chain heads are read here: the documents stay locked until the commit.
             .with_for_update(of=Document))
_DOCS, _ITEMS = cast(Table, Document.__table__), cast(Table, BatchItem.__table__)
_SET_DOC = update(_DOCS).where(_DOCS.c.id == bindparam("b_id"))
_SET_ITEM = update(_ITEMS).where(_ITEMS.c.id == bindparam("b_id"))
_INSERT_JOB = insert(cast(Table, Outbox.__table__))


def _step(pb: Postbox, batch_id: str, limit: int) -> tuple[int, bool]:
    """One transaction: up to ``limit`` items on, with their evidence (Core statements for the
    rows and one evidence statement per event, so a chunk costs little more than its
    signatures)."""
    now = pb.clock.now()
    blobs: list[str] = []
    with write_uow(pb) as uow:
        s = uow.session
        batch = s.scalar(select(Batch).where(Batch.id == batch_id).with_for_update())
        if batch is None or batch.state not in ("closed", "cancelled"):
            return 0, True
        rows = s.execute(_ACCEPTED, {"batch_id": batch_id, "limit": limit}).all()
        docs: list[dict[str, Any]] = []
        items: list[dict[str, Any]] = []
        jobs: list[dict[str, Any]] = []
        events: dict[str, list[tuple[evidence.Subject, str | None, datetime]]] = {}
        for row in rows:
            subject = evidence.Subject(row.org_id, row.recipient_id, row.document_id,
                                       row.ciphertext_sha256, row.commitment)
            if batch.state == "cancelled":
                status = "cancelled"
                docs.append({"b_id": row.document_id, "status": "cancelled",
                             "sealed_key": b"", "sealed_meta": b""})
                blobs.append(row.blob_key)
            elif holds_delivery(s, row.case_id, row.automated):
                status = "held"
                docs.append({"b_id": row.document_id, "status": "held"})
            else:
                status = "consigned"
                docs.append({"b_id": row.document_id, "status": "consigned",
                             "consigned_at": now})
                jobs.append({"id": new_id(), "kind": "notice", "created_at": now,
                             "run_after": now, "payload": json.dumps(
                                 {"recipient_id": row.recipient_id,
                                  "document_id": row.document_id})})
            events.setdefault(status, []).append((subject, row.evidence_head, now))
            items.append({"b_id": row.id, "status": status, "updated_at": now})
        heads: dict[str, str] = {}
        for event, entries in events.items():
            signed = evidence.append_many(
                s, pb.keys, event, entries,
                details=None if event == "consigned" else {"batch": batch.id})
            heads.update((e[0].document_id, h) for e, h in zip(entries, signed, strict=True))
        for values in docs:
            values["evidence_head"] = heads[values["b_id"]]
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for values in docs:  # one executemany per kind of change
            shapes.setdefault(tuple(sorted(values)), []).append(values)
        for shape, group in shapes.items():
            s.execute(_SET_DOC.values({k: bindparam(k) for k in shape if k != "b_id"}), group)
        if items:
            s.execute(_SET_ITEM.values(status=bindparam("status"),
                                       updated_at=bindparam("updated_at")), items)
        if jobs:
            s.execute(_INSERT_JOB, jobs)
        _follow_up(s, [d["b_id"] for d in docs if d["status"] in ("consigned", "held")],
                   batch.id, now)
        finished = len(rows) < limit or s.scalar(
            select(BatchItem.id).where(BatchItem.batch_id == batch_id,
                                       BatchItem.status == "accepted").limit(1)) is None
        if finished and batch.state == "closed":
            batch.state, batch.delivered_at = "delivered", now
        uow.commit()
    for key in blobs:  # the rows no longer open; the blob goes too, best effort
        try:
            pb.store.delete(key)
        except StorageError as exc:  # e.g. under Object Lock: it stays, sealed and keyless
            log.info("kept the blob of a cancelled batch item: %s", exc)
    return len(rows), finished


def _follow_up(session: Session, document_ids: list[str], batch_id: str, now: datetime) -> None:
    """Reminders and webhooks, as for single deliveries (one query per chunk)."""
    if not document_ids:
        return
    for doc in session.scalars(select(Document).where(Document.id.in_(document_ids))):
        if doc.status == "consigned":
            followups.consigned(session, doc, now)
        else:
            webhooks.emit_document_event(session, "held", doc.org_id, doc.recipient_id, doc.id,
                                         now, batch=batch_id)


def run_job(pb: Postbox, payload: dict[str, Any]) -> None:
    """Settle the whole batch named by a ``batch_settle`` job's payload."""
    settle(pb, str(payload["batch_id"]))


def handle_job(ctx: outbox.Context, job: outbox.Job) -> None:
    """The worker's handler for ``batch_settle`` (``postbox.worker`` kind table). Safe to run
    twice at once (a lease that ran out): steps take the batch row's lock and move only items
    still ``accepted``."""
    run_job(ctx.pb, job.payload)
    outbox.finish(ctx.pb, job)
