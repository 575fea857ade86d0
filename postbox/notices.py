"""Notices: telling a recipient by e-mail that something waits in their postbox, rarely.

Coalescing. Every cause (an arrival, a message from an organisation, a due reminder) becomes a
``NoticeItem``. Per recipient at most one notice e-mail job exists at a time
(``NoticeState.job_id``). The first item after a quiet period schedules that job at once;
items arriving while it is pending join it, or, once it has started, wait for the next job,
which is scheduled ``POSTBOX_NOTICE_WINDOW`` seconds after the previous notice went out. So a
recipient gets at most one notice per window, and a burst becomes "3 new documents".

Idempotence. When the e-mail job first runs it fixes the items it covers and its ``Date``;
the Message-ID is ``<job id>.notice@<sender domain>``. A run that dies mid-send is re-claimed
after its lease and sends the same message again, with the same Message-ID: the recipient
may see a duplicate, never a second, different notice. ``notified`` evidence (one per
document) is written only when the send succeeded, in the transaction that closes the job.

A 5xx answer from the receiving server is final: ``notice_failed`` evidence, and the address
is flagged as bouncing until the recipient changes it. Temporary failures are retried by the
outbox; when it gives up, ``notice_failed`` too (the address is not flagged).
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from crypto.codes import ALPHABET
from crypto.errors import OpenError
from postbox import evidence, outbox, webhooks
from postbox.bootstrap import Postbox
from postbox.config import Settings
from postbox.errors import NotFound
from postbox.mail import PermanentMailError, TemporaryMailError, check_recipient
from postbox.models import (
    Document,
    NoticeItem,
    NoticeState,
    Organisation,
    Outbox,
    Recipient,
)
from postbox.notice_text import NoticeFacts, build_message

MAIL_KIND = "notice_mail"


def new_notice_code() -> str:
    """Six characters without look-alikes, e.g. ``K7Q-M2X``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(6))
    return f"{raw[:3]}-{raw[3:]}"


def notice_code(pb: Postbox, recipient_id: str) -> str:
    """The recipient's notice code (made on first use): the portal shows it atop the inbox."""
    with pb.engine.connect() as conn:  # a plain read: every inbox view asks, and it exists
        known = conn.execute(select(Recipient.notice_code)
                             .where(Recipient.id == recipient_id)).scalar()
    if known:
        return str(known)
    with outbox.writer(pb)() as session:
        row = session.get(Recipient, recipient_id, with_for_update=True)
        if row is None:
            raise NotFound("no such recipient")
        if not row.notice_code:
            row.notice_code = new_notice_code()
            session.commit()
        return row.notice_code


def enqueue_notice(session: Session, recipient_id: str, document_id: str, at: datetime,
                   reason: str = "message") -> str | None:
    """Queue a notice in the caller's transaction (e.g. an organisation's reply in a case)."""
    if reason not in ("arrival", "message", "delegate_open"):
        raise ValueError(f"a notice is for an arrival, a message or a delegate's open, "
                         f"not {reason!r}")
    return outbox.enqueue(session, "notice", {"recipient_id": recipient_id,
                                              "document_id": document_id, "reason": reason},
                          at=at)


# -- coalescing --------------------------------------------------------------------------------

def _state(session: Session, recipient_id: str, now: datetime) -> NoticeState:
    """The recipient's state row, created if missing, locked for this transaction."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(NoticeState).values(recipient_id=recipient_id, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["recipient_id"]))
    state = session.get(NoticeState, recipient_id, with_for_update=True, populate_existing=True)
    assert state is not None  # just inserted or already there
    return state


def _window(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.notice_window_s)


def _schedule(session: Session, state: NoticeState, now: datetime, settings: Settings) -> None:
    """Make the next notice job: now after a quiet period, else one window after the last."""
    at = now if state.last_sent_at is None else max(now, state.last_sent_at + _window(settings))
    state.job_id = outbox.enqueue(session, MAIL_KIND, {"recipient_id": state.recipient_id},
                                  at=now, run_after=at)
    state.updated_at = now


def _waiting(session: Session, recipient_id: str) -> list[NoticeItem]:
    return list(session.scalars(
        select(NoticeItem).where(NoticeItem.recipient_id == recipient_id,
                                 NoticeItem.state == "waiting", NoticeItem.job_id.is_(None))
        .order_by(NoticeItem.created_at, NoticeItem.id)))


def add_item(session: Session, settings: Settings, item_id: str, recipient_id: str,
             document_id: str, org_id: str, reason: str, now: datetime) -> None:
    """Record one reason to tell the recipient, and make sure a notice job will cover it."""
    session.add(NoticeItem(id=item_id, recipient_id=recipient_id, document_id=document_id,
                           org_id=org_id, reason=reason, created_at=now))
    state = _state(session, recipient_id, now)
    if state.job_id is not None and session.scalar(
            select(Outbox.status).where(Outbox.id == state.job_id)) != "pending":
        state.job_id = None  # a job that ended without releasing (e.g. a manual clean-up)
    if state.job_id is None:
        session.flush()
        _schedule(session, state, now, settings)


def _release(session: Session, state: NoticeState, job_id: str, now: datetime,
             settings: Settings) -> None:
    """The job is over: let the next one be scheduled for whatever is still waiting."""
    if state.job_id == job_id:
        state.job_id = None
    state.updated_at = now
    if state.job_id is None and _waiting(session, state.recipient_id):
        _schedule(session, state, now, settings)


def _cause(ctx: outbox.Context, job: outbox.Job, now: datetime) -> outbox.Effects:
    def effects(session: Session) -> None:
        doc = session.get(Document, job.payload["document_id"])
        if doc is None or doc.deleted_at is not None:
            return
        add_item(session, ctx.pb.settings, job.id, doc.recipient_id, doc.id, doc.org_id,
                 job.payload.get("reason", "arrival"), now)
    return effects


def handle_notice(ctx: outbox.Context, job: outbox.Job) -> None:
    """A cause (arrival or message) becomes a notice item; its own job ends here."""
    outbox.finish(ctx.pb, job, _cause(ctx, job, ctx.pb.clock.now()))


def handle_notices(ctx: outbox.Context, jobs: list[outbox.Job]) -> None:
    """Many causes in one transaction (a batch's arrivals come by the thousand). Sorted by
    recipient, so two workers lock recipients' notice state in the same order."""
    now = ctx.pb.clock.now()
    ordered = sorted(jobs, key=lambda j: (str(j.payload.get("recipient_id", "")), j.id))
    outbox.finish_many(ctx.pb, [(job, _cause(ctx, job, now)) for job in ordered])


# -- the notice e-mail job ---------------------------------------------------------------------

def _covered(session: Session, job_id: str) -> list[NoticeItem]:
    return list(session.scalars(
        select(NoticeItem).where(NoticeItem.job_id == job_id, NoticeItem.state == "waiting")
        .order_by(NoticeItem.created_at, NoticeItem.id)))


def _freeze(session: Session, row: Outbox, recipient_id: str, now: datetime) -> datetime:
    """Fix the items this job covers and its date, once; later runs reuse them."""
    payload = json.loads(row.payload)
    if "frozen_at" in payload:
        return datetime.fromisoformat(payload["frozen_at"])
    for item in _waiting(session, recipient_id):
        if item.reason == "reminder":
            doc = session.get(Document, item.document_id)
            if doc is None or doc.first_read_at is not None or doc.deleted_at is not None:
                item.state, item.done_at = "cancelled", now
                continue
        item.job_id = row.id
    row.payload = json.dumps({**payload, "frozen_at": now.isoformat()}, sort_keys=True)
    return now


def _phrase(ctx: outbox.Context, recipient: Recipient) -> str | None:
    if recipient.anti_phishing_sealed is None:
        return None
    try:
        return ctx.pb.keys.open("phrase", recipient.id, recipient.anti_phishing_sealed).decode()
    except OpenError:
        return None


def _facts(ctx: outbox.Context, session: Session, recipient: Recipient,
           items: list[NoticeItem]) -> NoticeFacts:
    def count(reason: str) -> int:
        return len({i.document_id for i in items if i.reason == reason})

    org_ids = sorted({i.org_id for i in items})
    senders = tuple(session.scalars(
        select(Organisation.name).where(Organisation.id.in_(org_ids),
                                        Organisation.notice_show_sender.is_(True))
        .order_by(Organisation.name)))
    if not recipient.notice_code:
        recipient.notice_code = new_notice_code()
    settings = ctx.pb.settings
    address = urlsplit(settings.public_url).netloc if settings.notice_show_address else None
    return NoticeFacts(recipient.language, count("arrival"), count("message"),
                       count("reminder"), senders, _phrase(ctx, recipient),
                       recipient.notice_code, address or None, count("delegate_open"))


def message_id(job_id: str, settings: Settings) -> str:
    domain = settings.mail_from.rsplit("@", 1)[-1].strip(" >") or "localhost"
    return f"<{job_id}.notice@{domain}>"


def handle_mail(ctx: outbox.Context, job: outbox.Job) -> None:
    pb, now = ctx.pb, ctx.pb.clock.now()
    rid = job.payload["recipient_id"]
    with outbox.locked(pb, job) as held:
        if held is None:
            return
        session, row = held
        state = _state(session, rid, now)
        fresh = "frozen_at" not in json.loads(row.payload)
        quiet_until = (state.last_sent_at + _window(pb.settings)) if state.last_sent_at else now
        if fresh and now < quiet_until:
            outbox.defer_row(row, quiet_until, "waiting for the notice window")
            session.commit()
            return
        sent_date = _freeze(session, row, rid, now)
        items = _covered(session, job.id)
        recipient = session.get(Recipient, rid)
        if not items or recipient is None:
            outbox.finish_row(row, now, "nothing left to tell")
            _release(session, state, job.id, now, pb.settings)
            session.commit()
            return
        if recipient.email_bouncing and state.bounced_email in (None, recipient.email):
            _close(ctx, session, state, job, items, now, "failed",
                   {"channel": "email", "reason": "address-bouncing"})
            outbox.finish_row(row, now, "address is bouncing; not sent")
            session.commit()
            return
        recipient.email_bouncing = False  # a new address since the bounce: try it
        facts = _facts(ctx, session, recipient, items)
        to = recipient.email
        session.commit()
    mid = message_id(job.id, pb.settings)
    try:
        ctx.mailer.send(build_message(facts, sender=pb.settings.mail_from,
                                      to=check_recipient(to), message_id=mid, date=sent_date))
    except TemporaryMailError as exc:
        raise outbox.Retry(str(exc)) from None
    except PermanentMailError as exc:
        outbox.finish(pb, job, _closing(ctx, job, "failed", {
            "channel": "email", "reason": "bounced", "notice": mid}, bounced=to),
            note=f"not retried: {exc}")
        return
    outbox.finish(pb, job, _closing(ctx, job, "sent", {"channel": "email", "notice": mid}))


def _closing(ctx: outbox.Context, job: outbox.Job, outcome: str, details: dict[str, str],
             bounced: str | None = None) -> Callable[[Session], None]:
    def effects(session: Session) -> None:
        now = ctx.pb.clock.now()
        state = _state(session, job.payload["recipient_id"], now)
        if bounced is not None:
            recipient = session.get(Recipient, state.recipient_id)
            if recipient is not None and recipient.email == bounced:
                recipient.email_bouncing, state.bounced_email = True, bounced
        _close(ctx, session, state, job, _covered(session, job.id), now, outcome, details)

    return effects


def _close(ctx: outbox.Context, session: Session, state: NoticeState, job: outbox.Job,
           items: list[NoticeItem], now: datetime, outcome: str,
           details: dict[str, str]) -> None:
    """Settle the covered items: evidence and a webhook event per document, then release."""
    keys = ctx.pb.keys
    event = "notified" if outcome == "sent" else "notice_failed"
    reasons: dict[str, str] = {}
    for item in items:
        item.state, item.done_at = outcome, now
        reasons.setdefault(item.document_id, item.reason)
    for doc_id in sorted(reasons):
        doc = session.get(Document, doc_id, with_for_update=True)
        if doc is None:
            continue
        subject = evidence.Subject(doc.org_id, doc.recipient_id, doc.id, doc.ciphertext_sha256)
        evidence.record(session, keys, event, subject, now,
                        details={**details, "cause": reasons[doc_id]})
        if event == "notified" and doc.status == "consigned":
            doc.status = "notified"
        if reasons[doc_id] == "delegate_open":
            continue  # the owner was told of their delegate's open: nothing for the sender
        webhooks.emit_document_event(session, event, doc.org_id, doc.recipient_id, doc.id, now,
                                     cause=reasons[doc_id],
                                     **({"reason": details["reason"]} if "reason" in details
                                        else {}))
    if outcome == "sent":
        state.last_sent_at = now
    _release(session, state, job.id, now, ctx.pb.settings)


def mail_gave_up(ctx: outbox.Context, job: outbox.Job) -> Callable[[Session], None]:
    """When the outbox gives up on a notice: ``notice_failed`` for what it covered."""
    def effects(session: Session) -> None:
        now = ctx.pb.clock.now()
        state = _state(session, job.payload["recipient_id"], now)
        _close(ctx, session, state, job, _covered(session, job.id), now, "failed",
               {"channel": "email", "reason": "undeliverable",
                "notice": message_id(job.id, ctx.pb.settings)})

    return effects
