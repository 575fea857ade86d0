"""Unread escalation: walking a consigned document through its policy's steps.

At consignment (``schedule_default``, called from ``reminders.schedule_default``) the
organisation's ``default`` policy is copied onto the document (``DocumentEscalation``) and the
first step is queued as an outbox job ``escalation:<document>:<step>``. Only one step is
queued at a time: when it runs it queues the next one, so

- reading the document stops the policy: the pending job is cancelled (``stop_on_read``) and
  a step that comes due for a read document does nothing;
- a hold suspends it: a step that comes due while the document's case is on hold waits (checked
  daily), and the later steps keep their distance from the moment it finally ran, so the
  policy's clock does not run while a person at the sender decides.

What a step does: ``notice`` is the arrival notice (sent at consignment; nothing more);
``reminder`` becomes a "still unread" notice item, coalesced like every notice; ``print`` puts
the document into the organisation's print queue (postbox/print_queue.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from postbox import cases, notices, outbox, print_queue
from postbox.bootstrap import Postbox
from postbox.errors import Conflict, NotFound
from postbox.escalation_policy import (
    DEFAULT,
    Policy,
    Step,
    dumps,
    find_in,
    loads,
    resolve,
)
from postbox.models import Case, Document, DocumentEscalation, Outbox
from postbox.orgs import find_org

KIND = "escalation"
HOLD_RECHECK = timedelta(days=1)


@dataclass(frozen=True)
class Progress:
    document_id: str
    policy: str
    steps: tuple[Step, ...]
    next_step: int
    state: str
    next_at: datetime | None


def _dedupe(document_id: str, index: int) -> str:
    return f"{KIND}:{document_id}:{index}"


def _first_due(steps: tuple[Step, ...], base: datetime, now: datetime) -> int:
    """The first step that still has work to do: not the arrival notice, not in the past."""
    for i, step in enumerate(steps):
        if step.kind != "notice" and base + timedelta(days=step.day) >= now:
            return i
    return len(steps)


def _queue_next(session: Session, row: DocumentEscalation, at: datetime) -> datetime | None:
    steps = loads(row.steps)
    if row.next_step >= len(steps):
        row.state = "done"
        return None
    when = row.base_at + timedelta(days=steps[row.next_step].day)
    outbox.enqueue(session, KIND, {"document_id": row.document_id, "step": row.next_step},
                   at=at, run_after=when, dedupe_key=_dedupe(row.document_id, row.next_step))
    return when


def _start(session: Session, doc: Document, policy: Policy, at: datetime) -> DocumentEscalation:
    base = doc.consigned_at or at
    row = session.get(DocumentEscalation, doc.id) or DocumentEscalation(document_id=doc.id,
                                                                        org_id=doc.org_id)
    row.policy, row.steps, row.base_at = policy.name, dumps(policy.steps), base
    row.next_step, row.state, row.updated_at = _first_due(policy.steps, base, at), "active", at
    session.add(row)
    _queue_next(session, row, at)
    return row


def schedule(session: Session, doc: Document, at: datetime, policy: str | None = None) -> bool:
    """Start the named (or default) policy for a just-consigned document, in the caller's
    transaction. False when the organisation has no such policy."""
    found = find_in(session, doc.org_id, policy or DEFAULT)
    if found is None or doc.first_read_at is not None:
        return False
    _start(session, doc, found, at)
    return True


def schedule_default(session: Session, doc: Document, at: datetime) -> bool:
    """The consignment hook; True when an escalation policy now governs the document (its
    reminder steps then replace the reminder policy's after-days reminders)."""
    if session.get(DocumentEscalation, doc.id) is not None:
        return True  # consigned again (e.g. released): keep what it already has
    return schedule(session, doc, at)


def _cancel_pending(session: Session, document_id: str, at: datetime, reason: str) -> int:
    ids = list(session.scalars(
        select(Outbox.id).where(Outbox.kind == KIND, Outbox.status == "pending",
                                outbox.keyed(session, f"{KIND}:{document_id}:"))
        .with_for_update(skip_locked=True)))
    return sum(outbox.cancel(session, job_id, f"cancelled: {reason}", at) for job_id in ids)


def stop_on_read(session: Session, document_id: str, at: datetime) -> None:
    """The document was read: its policy ends here (caller's transaction)."""
    row = session.get(DocumentEscalation, document_id)
    if row is not None and row.state == "active":
        row.state, row.updated_at = "read", at
        _cancel_pending(session, document_id, at, "read")


def set_for_document(pb: Postbox, org_ref: str, document_id: str, name: str | None = None,
                     steps: object | None = None) -> Progress:
    """Give one document its own policy (named, or explicit steps) counted from its arrival;
    steps whose day has already passed are skipped."""
    now = pb.clock.now()
    with outbox.writer(pb)() as session:
        org = find_org(session, org_ref)
        policy = resolve(session, org.id, name, steps)
        doc = session.scalar(select(Document).where(Document.id == document_id,
                                                    Document.org_id == org.id))
        if doc is None:
            raise NotFound("no such document")
        if doc.first_read_at is not None or doc.deleted_at is not None:
            raise Conflict("this document was already read; no escalation applies")
        if doc.status not in ("consigned", "notified", "held"):
            raise Conflict(f"this document is {doc.status}; only delivered ones escalate")
        _cancel_pending(session, doc.id, now, "replaced")
        session.flush()
        row = _start(session, doc, policy, now)
        session.commit()
        return _progress(row)


def _progress(row: DocumentEscalation) -> Progress:
    steps = loads(row.steps)
    next_at = (row.base_at + timedelta(days=steps[row.next_step].day)
               if row.state == "active" and row.next_step < len(steps) else None)
    return Progress(row.document_id, row.policy, steps, row.next_step, row.state, next_at)


def progress(pb: Postbox, org_ref: str, document_id: str) -> Progress:
    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        row = uow.session.get(DocumentEscalation, document_id)
        if row is None or row.org_id != org.id:
            raise NotFound("no escalation for this document")
        return _progress(row)


def _held(session: Session, doc: Document | None) -> bool:
    if doc is None or doc.case_id is None:
        return False
    case = session.get(Case, doc.case_id)
    return case is not None and case.state == cases.ON_HOLD


def handle_step(ctx: outbox.Context, job: outbox.Job) -> None:
    pb, now = ctx.pb, ctx.pb.clock.now()
    with pb.uow() as uow:
        held = _held(uow.session, uow.session.get(Document, job.payload["document_id"]))
    if held:
        outbox.defer(pb, job, now + HOLD_RECHECK, "case on hold")
        return

    def effects(session: Session) -> None:
        row = session.get(DocumentEscalation, job.payload["document_id"], with_for_update=True)
        if row is None or row.state != "active" or row.next_step != job.payload["step"]:
            return  # replaced or stopped meanwhile
        doc = session.get(Document, row.document_id)
        if doc is None or doc.deleted_at is not None:
            row.state, row.updated_at = "gone", now
            return
        if doc.first_read_at is not None:
            row.state, row.updated_at = "read", now
            return
        step = loads(row.steps)[row.next_step]
        if step.kind == "reminder":
            notices.add_item(session, pb.settings, job.id, doc.recipient_id, doc.id,
                             doc.org_id, "reminder", now)
        elif step.kind == "print":
            print_queue.enqueue(session, pb.keys, doc, step.day, now)
        # A step that ran late (a hold, a stopped worker) moves the later ones with it.
        row.base_at = max(row.base_at, now - timedelta(days=step.day))
        row.next_step += 1
        row.updated_at = now
        _queue_next(session, row, now)

    outbox.finish(pb, job, effects)
