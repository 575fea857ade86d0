"""Cases and holds: automation yields to people.

A recipient's reply or dispute puts the case ON HOLD. While on hold, every new *automated*
delivery in the case is accepted, sealed and stored, but held: not consigned, not notified,
not visible. A person at the organisation releases the case (held items are consigned in
order, exactly once) or cancels the held items (discarded). Each step is evidence naming the
acting user. Deliveries written by a person (not automated) always go through.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from postbox import evidence, followups
from postbox.bootstrap import Postbox
from postbox.errors import InvalidInput, NotFound
from postbox.models import Case, Document, Outbox, Reply, new_id
from postbox.orgs import find_org
from storage.errors import StorageError

ON_HOLD = "on_hold"
OPEN = "open"


@dataclass(frozen=True)
class HeldCase:
    reference: str
    hold_since: datetime
    held_items: int
    replies: int


def put_on_hold(session: Session, case_id: str, now: datetime) -> bool:
    """Hold the case (idempotent: a second reply does not double-hold). True if on hold now."""
    case = session.get(Case, case_id, with_for_update=True)
    if case is None:
        return False
    if case.state != ON_HOLD:
        case.state, case.hold_since, case.updated_at = ON_HOLD, now, now
    return True


def holds_delivery(session: Session, case_id: str | None, automated: bool) -> bool:
    """Whether a new delivery must be held: automated, into a case that is on hold."""
    if case_id is None or not automated:
        return False
    return session.scalar(select(Case.state).where(Case.id == case_id)) == ON_HOLD


def _case(session: Session, org_id: str, reference: str) -> Case:
    case = session.scalar(select(Case).where(Case.org_id == org_id, Case.reference == reference)
                          .with_for_update())
    if case is None:
        raise NotFound(f"no case {reference!r}")
    return case


def hold(pb: Postbox, org_ref: str, reference: str, actor: str) -> None:
    """A person puts a case on hold by hand (e.g. after a phone call)."""
    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        put_on_hold(uow.session, _case(uow.session, org.id, reference).id, pb.clock.now())
        uow.commit()


def _held(session: Session, case_id: str) -> list[Document]:
    return list(session.scalars(select(Document).where(Document.case_id == case_id,
                                                       Document.status == "held")
                                .order_by(Document.created_at, Document.id)))


def release(pb: Postbox, org_ref: str, reference: str, actor: str) -> list[str]:
    """Consign the held items in order and reopen the case. Calling it twice consigns nothing
    twice: only items still held move."""
    actor = _actor(actor)
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        case = _case(s, find_org(s, org_ref).id, reference)
        released = []
        for doc in _held(s, case.id):
            subject = evidence.Subject(doc.org_id, doc.recipient_id, doc.id,
                                       doc.ciphertext_sha256)
            evidence.record(s, pb.keys, "released", subject, now, details={"by": actor})
            evidence.record(s, pb.keys, "consigned", subject, now)
            doc.status, doc.consigned_at = "consigned", now
            s.add(Outbox(id=new_id(), kind="notice", created_at=now, run_after=now,
                         payload=json.dumps({"recipient_id": doc.recipient_id,
                                             "document_id": doc.id})))
            followups.consigned(s, doc, now)
            released.append(doc.id)
        case.state, case.hold_since, case.updated_at = OPEN, None, now
        uow.commit()
    return released


def cancel(pb: Postbox, org_ref: str, reference: str, actor: str) -> list[str]:
    """Discard the held items (the case stays on hold until released)."""
    actor = _actor(actor)
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        case = _case(s, find_org(s, org_ref).id, reference)
        cancelled, blobs = [], []
        for doc in _held(s, case.id):
            evidence.record(s, pb.keys, "cancelled",
                            evidence.Subject(doc.org_id, doc.recipient_id, doc.id,
                                             doc.ciphertext_sha256), now, details={"by": actor})
            doc.status, doc.sealed_key, doc.sealed_meta = "cancelled", b"", b""
            cancelled.append(doc.id)
            blobs.append(doc.blob_key)
        uow.commit()
    for key in blobs:  # the rows no longer open; the blob goes too, best effort
        try:
            pb.store.delete(key)
        except StorageError:
            pass
    return cancelled


def holds_queue(pb: Postbox, org_ref: str) -> list[HeldCase]:
    """Cases on hold, oldest first, with what waits in each."""
    with pb.uow() as uow:
        s = uow.session
        org = find_org(s, org_ref)
        held = (select(func.count()).where(Document.case_id == Case.id,
                                           Document.status == "held").scalar_subquery())
        replies = select(func.count()).where(Reply.case_id == Case.id).scalar_subquery()
        rows = s.execute(select(Case.reference, Case.hold_since, held, replies)
                         .where(Case.org_id == org.id, Case.state == ON_HOLD)
                         .order_by(Case.hold_since, Case.reference))
        return [HeldCase(ref, since, n, r) for ref, since, n, r in rows]


def _actor(actor: str) -> str:
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 200:
        raise InvalidInput("say who acts (a name or e-mail of a person at the organisation)")
    return actor.strip()
