"""Escalation dry run: how many items each step of a policy would reach, changing nothing.

For a batch, each item is counted as it stands now: ``unreachable`` items (no postbox) go to
paper at once (postbox/printing.py) and reach no step; read documents reach none; documents
waiting in a held case, or in a case on hold, are ``paused``; every other delivered document
reaches every step, assuming nobody reads it from now on (items of an open batch count as
they will be consigned when it closes). For a set of recipients the run
assumes one new document for each: an ``unknown`` recipient is unreachable, the others reach
every step. A notice or reminder step to an address that bounces is not sent: it counts as
``notice_failed`` instead (its print step still reaches it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from postbox import cases, recipients, validation
from postbox.batches import find_batch
from postbox.bootstrap import Postbox
from postbox.errors import InvalidInput
from postbox.escalation_policy import Policy, resolve
from postbox.models import BatchItem, Case, Document, Recipient
from postbox.orgs import find_org

MAX_RECIPIENTS = 10_000


@dataclass
class StepCount:
    day: int
    kind: str
    reach: int = 0
    notice_failed: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"day": self.day, "kind": self.kind, "reach": self.reach,
                "notice_failed": self.notice_failed}


@dataclass
class DryRun:
    policy: Policy
    items: int = 0
    unreachable: int = 0
    read: int = 0
    paused: int = 0
    other: int = 0  # rejected or cancelled items
    steps: list[StepCount] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"policy": self.policy.as_json(), "items": self.items,
                "unreachable": self.unreachable, "read": self.read, "paused": self.paused,
                "other": self.other, "steps": [s.as_json() for s in self.steps]}


def _walk(run: DryRun, bouncing: bool) -> None:
    """One unread item goes through every step."""
    for count in run.steps:
        if count.kind == "print" or not bouncing:
            count.reach += 1
        else:
            count.notice_failed += 1


def dry_run(pb: Postbox, org_ref: str, *, batch: str | None = None,
            external_ids: list[str] | None = None, policy: str | None = None,
            steps: object | None = None) -> DryRun:
    """Counts for a batch or for recipients (exactly one), under a named policy, explicit
    steps, or the organisation's default."""
    if (batch is None) == (external_ids is None):
        raise InvalidInput("give either a batch or a list of recipients")
    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        chosen = resolve(uow.session, org.id, policy, steps)
        org_id = org.id
    run = DryRun(chosen, steps=[StepCount(s.day, s.kind) for s in chosen.steps])
    if external_ids is not None:
        _recipients(pb, org_ref, external_ids, run)
    else:
        assert batch is not None
        _batch(pb, org_id, batch, run)
    return run


def _recipients(pb: Postbox, org_ref: str, external_ids: list[str], run: DryRun) -> None:
    if not isinstance(external_ids, list) or not 1 <= len(external_ids) <= MAX_RECIPIENTS:
        raise InvalidInput(f"recipients is a list of 1 to {MAX_RECIPIENTS} external ids")
    wanted = list(dict.fromkeys(validation.external_id(e) for e in external_ids))
    for state in recipients.reachability_many(pb, org_ref, wanted).values():
        run.items += 1
        if state == "unknown":
            run.unreachable += 1
        else:
            _walk(run, bouncing=state == "bouncing")


def _batch(pb: Postbox, org_id: str, batch_id: str, run: DryRun) -> None:
    with pb.uow() as uow:
        s = uow.session
        found = find_batch(s, org_id, batch_id)
        rows = s.execute(
            select(BatchItem.status, Document.status, Document.first_read_at,
                   Document.deleted_at, Case.state, Recipient.email_bouncing)
            .select_from(BatchItem)
            .outerjoin(Document, Document.id == BatchItem.document_id)
            .outerjoin(Case, Case.id == Document.case_id)
            .outerjoin(Recipient, Recipient.id == Document.recipient_id)
            .where(BatchItem.batch_id == found.id))
        for item_status, doc_status, read_at, deleted_at, case_state, bouncing in rows:
            run.items += 1
            if item_status == "unreachable":
                run.unreachable += 1
            elif doc_status is None or deleted_at is not None or \
                    doc_status not in ("accepted", "consigned", "notified", "held"):
                run.other += 1
            elif read_at is not None:
                run.read += 1
            elif doc_status == "held" or case_state == cases.ON_HOLD:
                run.paused += 1
            else:
                _walk(run, bouncing=bool(bouncing))
