"""An organisation's own settings: the notice policy and the retention period.

The notice policy is whether arrival notices name the organisation (off by default: a notice
carries no sender unless the sender opts in) and the default reminder schedule
(:mod:`postbox.reminders`). Retention is how many days documents stay in the vault before
:mod:`postbox.retention` purges them (evidence stays); shortening it purges older documents at
the next run, so :func:`documents_older_than` lets the console say how many first.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from postbox import reminders
from postbox.bootstrap import Postbox
from postbox.errors import InvalidInput
from postbox.models import Document, ReminderPolicy
from postbox.orgs import find_org

MIN_RETENTION_DAYS = 30
MAX_RETENTION_DAYS = 36_500
_DAYS = re.compile(r"\s*[0-9]{1,4}\s*")


@dataclass(frozen=True)
class OrgSettings:
    notice_show_sender: bool
    remind_after_days: tuple[int, ...]
    remind_before_due_days: tuple[int, ...]
    retention_days: int


def parse_days(text: str) -> list[int]:
    """"3, 7" -> [3, 7]; empty -> []."""
    if not isinstance(text, str) or len(text) > 200:
        raise InvalidInput("write days as whole numbers separated by commas, like 3, 7")
    parts = [p for p in text.split(",") if p.strip()]
    if any(not _DAYS.fullmatch(p) for p in parts):
        raise InvalidInput("write days as whole numbers separated by commas, like 3, 7")
    return [int(p) for p in parts]


def _stored_days(text: str | None) -> tuple[int, ...]:
    return tuple(int(v) for v in (text or "").split(",") if v.strip().isdigit())


def get(pb: Postbox, org_ref: str) -> OrgSettings:
    # Read here rather than through reminders.get_policy, which reads its row after its
    # session has closed (DetachedInstanceError once a policy exists).
    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        policy = uow.session.get(ReminderPolicy, org.id)
        return OrgSettings(org.notice_show_sender,
                           _stored_days(policy.after_days if policy else None),
                           _stored_days(policy.before_due_days if policy else None),
                           org.retention_days)


def set_notice_policy(pb: Postbox, org_ref: str, show_sender: bool, after_days: list[int],
                      before_due_days: list[int]) -> OrgSettings:
    """Name the sender in notices or not, and the default reminders (checked before any
    change is written)."""
    if not isinstance(show_sender, bool):
        raise InvalidInput("say whether notices name the organisation")
    reminders.set_policy(pb, org_ref, after_days, before_due_days)
    with pb.uow() as uow:
        find_org(uow.session, org_ref).notice_show_sender = show_sender
        uow.commit()
    return get(pb, org_ref)


def _retention(days: int) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not (
            MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS):
        raise InvalidInput(f"retention is {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS} days")
    return days


def documents_older_than(pb: Postbox, org_ref: str, days: int) -> int:
    """How many of the organisation's documents a retention of ``days`` would purge."""
    cutoff = pb.clock.now() - timedelta(days=_retention(days))
    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        return uow.session.scalar(select(func.count()).select_from(Document).where(
            Document.org_id == org.id, Document.status != "purged",
            Document.created_at < cutoff)) or 0


def set_retention(pb: Postbox, org_ref: str, days: int) -> OrgSettings:
    days = _retention(days)
    with pb.uow() as uow:
        find_org(uow.session, org_ref).retention_days = days
        uow.commit()
    return get(pb, org_ref)
