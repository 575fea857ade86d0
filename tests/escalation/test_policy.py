"""Policy validation, named policies, and a document's own policy."""
from __future__ import annotations

import pytest

from postbox import escalation, escalation_policy
from postbox.errors import Conflict, InvalidInput, NotFound
from tests.fixtures.postbox import activate_person

from .conftest import STANDARD, invite, jobs, read, send


@pytest.mark.parametrize("steps", [
    [], "reminder:3", [{"day": 3}], [{"day": -1, "kind": "reminder"}],
    [{"day": 400, "kind": "reminder"}], [{"day": 3, "kind": "fax"}],
    [{"day": 2, "kind": "notice"}], [{"day": 0, "kind": "reminder"}],
    [{"day": 3, "kind": "print"}, {"day": 7, "kind": "reminder"}],
    [{"day": 7, "kind": "print"}, {"day": 8, "kind": "print"}],
    [{"day": 7, "kind": "print"}, {"day": 7, "kind": "reminder"}],
    [{"day": 3, "kind": "reminder"}, {"day": 3, "kind": "reminder"}],
    [{"day": True, "kind": "reminder"}], [{"day": 3, "kind": "reminder", "x": 1}],
    [{"day": d, "kind": "reminder"} for d in range(1, 12)],
])
def test_bad_policies_are_refused(steps) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput):
        escalation_policy.parse_steps(steps)


def test_spec_and_order() -> None:
    steps = escalation_policy.parse_spec("print:14, reminder:7,notice:0,reminder:3")
    assert [s.as_json() for s in steps] == STANDARD
    with pytest.raises(InvalidInput):
        escalation_policy.parse_spec("reminder:three")


def test_named_policies(pb, org) -> None:
    assert escalation_policy.list_policies(pb, org) == []
    escalation_policy.set_policy(pb, org, "default", STANDARD)
    escalation_policy.set_policy(pb, org, "dunning", [{"day": 1, "kind": "reminder"}])
    escalation_policy.set_policy(pb, org, "dunning", [{"day": 2, "kind": "reminder"}])
    assert [p.name for p in escalation_policy.list_policies(pb, org)] == ["default", "dunning"]
    assert escalation_policy.get_policy(pb, org, "dunning").steps[0].day == 2
    for bad in ("Dunning", "dry-run", "", "x" * 65, "a/b"):
        with pytest.raises(InvalidInput):
            escalation_policy.set_policy(pb, org, bad, STANDARD)
    escalation_policy.delete_policy(pb, org, "dunning")
    with pytest.raises(NotFound):
        escalation_policy.get_policy(pb, org, "dunning")
    with pytest.raises(NotFound):
        escalation_policy.delete_policy(pb, org, "dunning")


def test_a_document_gets_its_own_policy(pb, clock, org) -> None:
    escalation_policy.set_policy(pb, org, "urgent", [{"day": 1, "kind": "reminder"},
                                                     {"day": 2, "kind": "print"}])
    alice = activate_person(pb, clock, org, "C-1", "alice@example.org")
    doc = send(pb, org, "C-1")
    assert jobs(pb, escalation.KIND) == []  # no default policy
    with pytest.raises(NotFound):
        escalation.progress(pb, org, doc)
    progress = escalation.set_for_document(pb, org, doc, "urgent")
    assert (progress.policy, progress.next_step, progress.state) == ("urgent", 0, "active")
    assert progress.next_at is not None and progress.next_at.date() > clock.now().date()
    clock.advance(days=1, seconds=1)  # day 1 has passed: the explicit steps skip it
    progress = escalation.set_for_document(pb, org, doc, None, [{"day": 1, "kind": "reminder"},
                                                                {"day": 5, "kind": "print"}])
    assert (progress.policy, progress.next_step) == ("document", 1)
    assert [j.status for j in jobs(pb, escalation.KIND)] == ["done", "pending"]
    with pytest.raises(NotFound):
        escalation.set_for_document(pb, org, doc, "nope")
    with pytest.raises(NotFound):
        escalation.set_for_document(pb, org, "0" * 32, "urgent")
    read(pb, alice, doc)
    with pytest.raises(Conflict):
        escalation.set_for_document(pb, org, doc, "urgent")
    assert escalation.progress(pb, org, doc).state == "read"


def test_invited_recipient_policy_is_copied_at_arrival(pb, org) -> None:
    escalation_policy.set_policy(pb, org, "default", STANDARD)
    invite(pb, org, "C-1", "alice@example.org")
    doc = send(pb, org, "C-1")
    escalation_policy.set_policy(pb, org, "default", [{"day": 1, "kind": "reminder"}])
    assert [s.as_json() for s in escalation.progress(pb, org, doc).steps] == STANDARD
