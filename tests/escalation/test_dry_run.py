"""The dry run counts what then happens: batch items and recipient sets, by step."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest

from postbox import (
    batch_items,
    batch_settle,
    batches,
    cases,
    escalation_dryrun,
    recipients,
)
from postbox.batch_items import ItemInput
from postbox.errors import InvalidInput, NotFound
from postbox.models import BatchItem, Recipient
from postbox.orgs import find_org
from tests.fixtures.postbox import activate_person, pdf_bytes
from tests.notices.conftest import update

from .conftest import print_rows, read, reminder_items, standard_policy


def _add(pb, org_id: str, batch: str, key: str, recipient: str, **kw):  # type: ignore[no-untyped-def]
    item = ItemInput(key=key, recipient=recipient, subject="Letter", filename="letter.pdf", **kw)
    return batch_items.add_item(pb, org_id, batch, item, io.BytesIO(pdf_bytes(key)))


def _org_id(pb, slug: str) -> str:  # type: ignore[no-untyped-def]
    with pb.uow() as uow:
        return find_org(uow.session, slug).id


def _doc(pb, batch_id: str, key: str) -> str:  # type: ignore[no-untyped-def]
    with pb.uow() as uow:
        return uow.session.query(BatchItem.document_id).filter_by(batch_id=batch_id,
                                                                   key=key).scalar()


def test_batch_dry_run_matches_what_happens(pb, clock, org, smtp_server, smtp_worker) -> None:
    standard_policy(pb, org)
    carol = activate_person(pb, clock, org, "C", "c@example.org")  # she reads hers
    ids = {ext: recipients.invite_recipient(pb, org, ext, f"{ext.lower()}@example.org")
           .recipient_id for ext in ("A", "B", "D", "E", "INV")}  # invited: still reachable
    update(pb, Recipient, ids["D"], email_bouncing=True)
    org_id = _org_id(pb, org)
    batch = batches.create_batch(pb, org_id)
    for ext in ("A", "B", "C", "D", "INV"):
        assert _add(pb, org_id, batch.id, f"k-{ext}", ext).status == "accepted"
    assert _add(pb, org_id, batch.id, "k-E", "E", case="CASE-1", automated=True).status \
        == "accepted"
    assert _add(pb, org_id, batch.id, "k-X", "NOBODY").status == "unreachable"
    # Before the batch closes: all accepted items are counted as they will go.
    early = escalation_dryrun.dry_run(pb, org, batch=batch.id)
    assert [(c.kind, c.reach, c.notice_failed) for c in early.steps] == [
        ("notice", 5, 1), ("reminder", 5, 1), ("reminder", 5, 1), ("print", 6, 0)]
    batches.close_batch(pb, org_id, batch.id)
    batch_settle.settle(pb, batch.id)
    smtp_worker.drain()
    read(pb, carol, _doc(pb, batch.id, "k-C"))
    cases.hold(pb, org, "CASE-1", "clerk@acme.example")  # E's letter: paused
    run = escalation_dryrun.dry_run(pb, org, batch=batch.id)
    assert (run.items, run.unreachable, run.read, run.paused, run.other) == (7, 1, 1, 1, 0)
    counts = [(c.day, c.kind, c.reach, c.notice_failed) for c in run.steps]
    assert counts == [(0, "notice", 3, 1), (3, "reminder", 3, 1), (7, "reminder", 3, 1),
                      (14, "print", 4, 0)]

    start = clock.now()
    for day in range(1, 21):
        clock.advance(seconds=(start + timedelta(days=day) - clock.now()).total_seconds())
        smtp_worker.drain()
    made = reminder_items(pb)
    for index, (_, kind, reach, failed) in enumerate(counts):
        if kind == "reminder":
            assert (made.get((index, "sent"), 0), made.get((index, "failed"), 0)) == \
                (reach, failed), index
    assert len(print_rows(pb)) == counts[-1][2]
    assert {r.reason for r in print_rows(pb)} == {"unread", "notice-failed"}


def test_recipient_dry_run_uses_reachability(pb, clock, org) -> None:
    standard_policy(pb, org)
    activate_person(pb, clock, org, "A", "a@example.org")
    recipients.invite_recipient(pb, org, "B", "b@example.org")
    bouncing = recipients.invite_recipient(pb, org, "C", "c@example.org").recipient_id
    update(pb, Recipient, bouncing, email_bouncing=True)
    run = escalation_dryrun.dry_run(pb, org, external_ids=["A", "B", "C", "NOBODY", "A"],
                                    steps=[{"day": 5, "kind": "reminder"},
                                           {"day": 10, "kind": "print"}])
    assert run.policy.name == "document"
    assert (run.items, run.unreachable) == (4, 1)
    assert [(c.reach, c.notice_failed) for c in run.steps] == [(2, 1), (3, 0)]


def test_dry_run_refuses_bad_requests(pb, org) -> None:
    with pytest.raises(NotFound):
        escalation_dryrun.dry_run(pb, org, external_ids=["A"])  # no default policy yet
    standard_policy(pb, org)
    with pytest.raises(InvalidInput):
        escalation_dryrun.dry_run(pb, org)
    with pytest.raises(InvalidInput):
        escalation_dryrun.dry_run(pb, org, batch="x", external_ids=["A"])
    with pytest.raises(InvalidInput):
        escalation_dryrun.dry_run(pb, org, external_ids=["bad id with spaces"])
    with pytest.raises(NotFound):
        escalation_dryrun.dry_run(pb, org, batch="0" * 32)
