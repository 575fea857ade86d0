"""Reminders: "still unread" notices, per organisation policy or per document.

A policy says how many days after arrival (e.g. 3 and 7, as Altinn does after 7) and how many
days before a due date (at 08:00 UTC) to remind. Each reminder is an outbox job scheduled when
the document is consigned (``reminder:<document>:<label>`` as dedupe key); when it comes due it
becomes a notice item and goes out through the same coalescing as arrivals. Reading the
document cancels its pending reminders, and a reminder that comes due for a read or deleted
document does nothing. While the document's case is on hold, reminders wait (automation
yields to a human answer).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from postbox import cases, escalation, notices, outbox
from postbox.bootstrap import Postbox
from postbox.errors import InvalidInput, NotFound
from postbox.models import Case, Document, NoticeItem, Outbox, ReminderPolicy
from postbox.orgs import find_org

KIND = "reminder"
MAX_DAYS = 365
MAX_PER_LIST = 5
REMIND_AT = time(8, 0)
HOLD_RECHECK = timedelta(days=1)


@dataclass(frozen=True)
class Policy:
    after_days: tuple[int, ...]
    before_due_days: tuple[int, ...]


def _days(values: list[int] | tuple[int, ...], what: str) -> tuple[int, ...]:
    try:
        days = tuple(sorted({int(v) for v in values}))
    except (TypeError, ValueError):
        raise InvalidInput(f"{what} must be whole numbers of days") from None
    if len(days) > MAX_PER_LIST or any(not 1 <= d <= MAX_DAYS for d in days):
        raise InvalidInput(f"{what}: at most {MAX_PER_LIST} values from 1 to {MAX_DAYS}")
    return days


def _parse(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def set_policy(pb: Postbox, org_ref: str, after_days: list[int],
               before_due_days: list[int]) -> Policy:
    """The organisation's default reminders for documents consigned from now on."""
    policy = Policy(_days(after_days, "after_days"), _days(before_due_days, "before_due_days"))
    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        row = uow.session.get(ReminderPolicy, org.id) or ReminderPolicy(org_id=org.id)
        row.after_days = ",".join(map(str, policy.after_days))
        row.before_due_days = ",".join(map(str, policy.before_due_days))
        row.updated_at = pb.clock.now()
        uow.session.add(row)
        uow.commit()
    return policy


def get_policy(pb: Postbox, org_ref: str) -> Policy:
    with pb.uow() as uow:  # build the answer inside: the row expires when the session ends
        org = find_org(uow.session, org_ref)
        row = uow.session.get(ReminderPolicy, org.id)
        if row is None:
            return Policy((), ())
        return Policy(_parse(row.after_days), _parse(row.before_due_days))


def plan(doc: Document, policy: Policy) -> list[tuple[str, datetime]]:
    """(label, when) of each reminder for ``doc``; none in the past of its arrival."""
    base = doc.consigned_at or doc.created_at
    steps = [(f"after-{d}", base + timedelta(days=d)) for d in policy.after_days]
    if doc.due_date is not None:
        for d in policy.before_due_days:
            when = datetime.combine(doc.due_date - timedelta(days=d), REMIND_AT, tzinfo=UTC)
            if when > base:
                steps.append((f"due-{d}", when))
    return sorted(steps, key=lambda s: s[1])


def _enqueue(session: Session, doc: Document, policy: Policy, at: datetime) -> list[datetime]:
    planned = plan(doc, policy)
    for label, when in planned:
        outbox.enqueue(session, KIND, {"document_id": doc.id, "label": label}, at=at,
                       run_after=when, dedupe_key=f"reminder:{doc.id}:{label}")
    return [when for _, when in planned]


def schedule_default(session: Session, doc: Document, at: datetime) -> None:
    """Schedule the organisation's policy for a just-consigned document (caller's txn)."""
    # An escalation policy (postbox/escalation.py) generalises the after-days reminders.
    escalated = escalation.schedule_default(session, doc, at)
    row = session.get(ReminderPolicy, doc.org_id)
    if row is not None and (row.after_days or row.before_due_days):
        _enqueue(session, doc, Policy(() if escalated else _parse(row.after_days),
                                      _parse(row.before_due_days)), at)


def cancel_for_document(session: Session, document_id: str, at: datetime, reason: str) -> int:
    """Close the document's pending reminders (caller's txn); one being sent right now is
    skipped, and its notice leaves out documents read by then."""
    ids = list(session.scalars(
        select(Outbox.id).where(Outbox.kind == KIND, Outbox.status == "pending",
                                outbox.keyed(session, f"reminder:{document_id}:"))
        .with_for_update(skip_locked=True)))
    cancelled = sum(outbox.cancel(session, job_id, f"cancelled: {reason}", at) for job_id in ids)
    if reason == "read":
        escalation.stop_on_read(session, document_id, at)
    # Reminder items not yet fixed into a notice are dropped too.
    session.execute(update(NoticeItem).where(
        NoticeItem.document_id == document_id, NoticeItem.reason == "reminder",
        NoticeItem.state == "waiting", NoticeItem.job_id.is_(None))
        .values(state="cancelled", done_at=at))
    return cancelled


def set_for_document(pb: Postbox, org_ref: str, document_id: str, after_days: list[int],
                     before_due_days: list[int]) -> list[datetime]:
    """Replace a document's reminders with its own schedule; returns when they are due."""
    policy = Policy(_days(after_days, "after_days"), _days(before_due_days, "before_due_days"))
    now = pb.clock.now()
    with outbox.writer(pb)() as session:
        org = find_org(session, org_ref)
        doc = session.scalar(select(Document).where(Document.id == document_id,
                                                    Document.org_id == org.id))
        if doc is None:
            raise NotFound("no such document")
        cancel_for_document(session, doc.id, now, "replaced")
        session.flush()
        due = [] if doc.first_read_at is not None else _enqueue(session, doc, policy, now)
        session.commit()
        return [when for when in due if when >= now]


def _on_hold(case: Case | None) -> bool:
    return case is not None and case.state == cases.ON_HOLD


def handle_reminder(ctx: outbox.Context, job: outbox.Job) -> None:
    pb, now = ctx.pb, ctx.pb.clock.now()
    with pb.uow() as uow:
        doc = uow.session.get(Document, job.payload["document_id"])
        held = doc is not None and doc.case_id is not None and _on_hold(
            uow.session.get(Case, doc.case_id))
    if held:
        outbox.defer(pb, job, now + HOLD_RECHECK, "case on hold")
        return

    def effects(session: Session) -> None:
        fresh = session.get(Document, job.payload["document_id"])
        if fresh is None or fresh.first_read_at is not None or fresh.deleted_at is not None:
            return
        notices.add_item(session, pb.settings, job.id, fresh.recipient_id, fresh.id,
                         fresh.org_id, "reminder", now)

    outbox.finish(pb, job, effects)
