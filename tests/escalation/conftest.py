"""Escalation fixtures: the notice tests' worker and org, a default policy, read helpers."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from postbox import auth, escalation_policy, reading
from postbox.bootstrap import Postbox
from postbox.models import NoticeItem, Outbox, PrintJob
from tests.fixtures.postbox import PIN, Person
from tests.notices.conftest import (  # noqa: F401 - fixtures
    invite,
    jobs,
    make_worker,
    org,
    send,
    smtp_worker,
)

STANDARD = [{"day": 0, "kind": "notice"}, {"day": 3, "kind": "reminder"},
            {"day": 7, "kind": "reminder"}, {"day": 14, "kind": "print"}]
ARRIVAL = "You have new post in your postbox"
REMINDER = "Reminder: unread post in your postbox"


def standard_policy(pb: Postbox, org_ref: str, name: str = "default") -> None:
    escalation_policy.set_policy(pb, org_ref, name, STANDARD)


def read(pb: Postbox, person: Person, document_id: str) -> None:
    vault = auth.unlock(pb, auth.authenticate(pb, person.email, PIN, person.otp()).token)
    reading.read_all(pb, vault, document_id)


def print_rows(pb: Postbox) -> list[PrintJob]:
    with pb.uow() as uow:
        rows = list(uow.session.scalars(select(PrintJob).order_by(PrintJob.created_at)))
        uow.session.expunge_all()
        return rows


def reminder_items(pb: Postbox) -> dict[tuple[int, str], int]:
    """(step index, outcome) -> number of reminder notice items the escalation made."""
    with pb.uow() as uow:
        rows = uow.session.execute(
            select(Outbox.payload, NoticeItem.state, func.count())
            .join(Outbox, Outbox.id == NoticeItem.id)
            .where(Outbox.kind == "escalation", NoticeItem.reason == "reminder")
            .group_by(Outbox.payload, NoticeItem.state))
        out: dict[tuple[int, str], int] = {}
        for payload, state, n in rows:
            key = (json.loads(payload)["step"], state)
            out[key] = out.get(key, 0) + n
        return out
