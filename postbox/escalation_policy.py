"""Escalation policies: what a declarative policy may say, and an organisation's named ones.

A policy is a list of steps at day offsets from arrival, e.g. notice on day 0, reminder on
day 3 and 7, print on day 14. It generalises the reminder policy (postbox/reminders.py): a
``reminder`` step is an "after N days" reminder; a ``notice`` step is the arrival notice that
every arrival gets anyway, so it may only stand on day 0; a ``print`` step, at most one and
last, puts the unread letter into the organisation's print queue. The policy named
``default`` applies to every arrival of the organisation; other names are for per-document
use (``postbox.escalation.set_for_document`` or a delivery's ``policy`` field).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from postbox.bootstrap import Postbox
from postbox.errors import InvalidInput, NotFound
from postbox.models import EscalationPolicy
from postbox.orgs import find_org

KINDS = ("notice", "reminder", "print")
DEFAULT = "default"
MAX_DAYS = 365
MAX_STEPS = 10
MAX_POLICIES = 20
RESERVED = ("dry-run", "document", "documents")  # API paths, and the per-document marker
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@dataclass(frozen=True)
class Step:
    day: int
    kind: str

    def as_json(self) -> dict[str, Any]:
        return {"day": self.day, "kind": self.kind}


@dataclass(frozen=True)
class Policy:
    name: str
    steps: tuple[Step, ...]

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "steps": [s.as_json() for s in self.steps]}


def policy_name(value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value) or value in RESERVED:
        raise InvalidInput("a policy name is 1-64 of a-z, 0-9, '-' and '_', starting with a "
                           f"letter or digit, and not {', '.join(RESERVED)}")
    return value


def _step(raw: object) -> Step:
    if not isinstance(raw, dict) or set(raw) - {"day", "kind"}:
        raise InvalidInput('each step is an object {"day": N, "kind": "notice|reminder|print"}')
    day, kind = raw.get("day"), raw.get("kind")
    if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= MAX_DAYS:
        raise InvalidInput(f"a step's day is a whole number from 0 to {MAX_DAYS}")
    if kind not in KINDS:
        raise InvalidInput(f"a step's kind is one of {', '.join(KINDS)}")
    if kind == "notice" and day != 0:
        raise InvalidInput("a notice step is the arrival notice, on day 0; use reminder steps "
                           "for later days")
    if kind != "notice" and day == 0:
        raise InvalidInput(f"a {kind} step needs a day from 1 to {MAX_DAYS}")
    return Step(day, str(kind))


def parse_steps(raw: object) -> tuple[Step, ...]:
    """Validated steps in day order; the one print step must be the last."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_STEPS:
        raise InvalidInput(f"a policy is a list of 1 to {MAX_STEPS} steps")
    steps = tuple(sorted((_step(s) for s in raw), key=lambda s: (s.day, KINDS.index(s.kind))))
    if len(set(steps)) != len(steps):
        raise InvalidInput("a policy names each step (day and kind) once")
    prints = [s for s in steps if s.kind == "print"]
    if len(prints) > 1 or (prints and steps[-1] != prints[0]) or \
            (prints and sum(s.day == prints[0].day for s in steps) > 1):
        raise InvalidInput("a policy has at most one print step, on a day after all others")
    return steps


def parse_spec(text: str) -> tuple[Step, ...]:
    """The CLI form ``notice:0,reminder:3,reminder:7,print:14``."""
    raw: list[object] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        kind, _, day = part.partition(":")
        if not day.strip().isdigit():
            raise InvalidInput(f"{part!r}: write each step as KIND:DAY, e.g. reminder:3")
        raw.append({"kind": kind.strip(), "day": int(day)})
    return parse_steps(raw)


def dumps(steps: tuple[Step, ...]) -> str:
    return json.dumps([s.as_json() for s in steps], separators=(",", ":"))


def loads(text: str) -> tuple[Step, ...]:
    return tuple(Step(int(s["day"]), str(s["kind"])) for s in json.loads(text))


def set_policy(pb: Postbox, org_ref: str, name: str, steps: object) -> Policy:
    """Create or replace a named policy; arrivals already under way keep what they got."""
    policy = Policy(policy_name(name), parse_steps(steps))
    with pb.uow() as uow:
        s = uow.session
        org = find_org(s, org_ref)
        row = s.scalar(select(EscalationPolicy).where(EscalationPolicy.org_id == org.id,
                                                      EscalationPolicy.name == policy.name))
        if row is None:
            if len(list_policies_in(s, org.id)) >= MAX_POLICIES:
                raise InvalidInput(f"an organisation has at most {MAX_POLICIES} policies")
            row = EscalationPolicy(org_id=org.id, name=policy.name)
        row.steps, row.updated_at = dumps(policy.steps), pb.clock.now()
        s.add(row)
        uow.commit()
    return policy


def delete_policy(pb: Postbox, org_ref: str, name: str) -> None:
    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        gone = uow.session.execute(delete(EscalationPolicy).where(
            EscalationPolicy.org_id == org.id, EscalationPolicy.name == policy_name(name)))
        if not gone.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"no policy {name!r}")
        uow.commit()


def find_in(session: Session, org_id: str, name: str) -> Policy | None:
    row = session.scalar(select(EscalationPolicy).where(EscalationPolicy.org_id == org_id,
                                                        EscalationPolicy.name == name))
    return None if row is None else Policy(row.name, loads(row.steps))


def list_policies_in(session: Session, org_id: str) -> list[Policy]:
    rows = session.scalars(select(EscalationPolicy).where(EscalationPolicy.org_id == org_id)
                           .order_by(EscalationPolicy.name))
    return [Policy(r.name, loads(r.steps)) for r in rows]


def list_policies(pb: Postbox, org_ref: str) -> list[Policy]:
    with pb.uow() as uow:
        return list_policies_in(uow.session, find_org(uow.session, org_ref).id)


def get_policy(pb: Postbox, org_ref: str, name: str = DEFAULT) -> Policy:
    with pb.uow() as uow:
        policy = find_in(uow.session, find_org(uow.session, org_ref).id, policy_name(name))
    if policy is None:
        raise NotFound(f"no policy {name!r}")
    return policy


def resolve(session: Session, org_id: str, name: str | None, steps: object | None) -> Policy:
    """A request's policy: explicit ``steps``, else a named one, else the default."""
    if steps is not None:
        return Policy("document", parse_steps(steps))
    wanted = policy_name(name) if name is not None else DEFAULT
    policy = find_in(session, org_id, wanted)
    if policy is None:
        raise NotFound(f"no policy {wanted!r}")
    return policy
