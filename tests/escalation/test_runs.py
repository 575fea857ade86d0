"""Escalation on an injected clock: day 0, 3, 7 and 14; stops on read, pauses on hold."""
from __future__ import annotations

from datetime import datetime, timedelta

from postbox import cases, escalation, outbox, reminders
from postbox.clock import FrozenClock
from postbox.models import DocumentEscalation
from tests.fixtures.postbox import activate_person
from tests.notices.conftest import events

from .conftest import (
    ARRIVAL,
    REMINDER,
    invite,
    jobs,
    print_rows,
    read,
    send,
    standard_policy,
)


def _subjects(server) -> list[str]:  # type: ignore[no-untyped-def]
    return [m["Subject"] for m in server.messages]


def _state(pb, document_id: str) -> str:  # type: ignore[no-untyped-def]
    with pb.uow() as uow:
        return uow.session.get(DocumentEscalation, document_id).state


def _go(clock: FrozenClock, start: datetime, days: float, seconds: float = 0) -> None:
    """Move the frozen clock to ``start`` + days + seconds."""
    clock.advance(seconds=(start + timedelta(days=days, seconds=seconds) - clock.now())
                  .total_seconds())


def test_notice_day_0_reminders_day_3_and_7_print_day_14(
        pb, clock, org, smtp_server, smtp_worker) -> None:
    standard_policy(pb, org)
    invite(pb, org, "C-1", "alice@example.org")
    start = clock.now()
    doc = send(pb, org, "C-1")
    smtp_worker.drain()
    assert _subjects(smtp_server) == [ARRIVAL]
    expected = {3: ([ARRIVAL, REMINDER], 0), 7: ([ARRIVAL, REMINDER, REMINDER], 0),
                14: ([ARRIVAL, REMINDER, REMINDER], 1)}
    before = ([ARRIVAL], 0)
    for day, (subjects, printed) in expected.items():
        _go(clock, start, day, seconds=-1)
        smtp_worker.drain()  # a second early: nothing new yet
        assert (_subjects(smtp_server), len(print_rows(pb))) == before, day
        _go(clock, start, day)
        smtp_worker.drain()
        assert (_subjects(smtp_server), len(print_rows(pb))) == (subjects, printed), day
        before = (subjects, printed)
    [row] = print_rows(pb)
    assert (row.document_id, row.step_day, row.reason, row.state) == (doc, 14, "unread", "queued")
    assert events(pb, doc)[-1] == "print_fallback"
    assert _state(pb, doc) == "done"
    _go(clock, start, 60)
    assert smtp_worker.drain() == 0  # nothing left to do
    assert _subjects(smtp_server) == [ARRIVAL, REMINDER, REMINDER]


def test_reading_stops_the_policy(pb, clock, org, smtp_server, smtp_worker) -> None:
    standard_policy(pb, org)
    alice = activate_person(pb, clock, org, "C-1", "alice@example.org")
    start = clock.now()
    doc = send(pb, org, "C-1")
    smtp_worker.drain()
    _go(clock, start, 3)
    smtp_worker.drain()
    _go(clock, start, 5)
    read(pb, alice, doc)
    assert _state(pb, doc) == "read"
    pending = [j for j in jobs(pb, escalation.KIND) if j.status == "pending"]
    assert pending == []
    assert [j.last_error for j in jobs(pb, escalation.KIND)][-1] == "cancelled: read"
    _go(clock, start, 30)
    smtp_worker.drain()
    assert _subjects(smtp_server) == [ARRIVAL, REMINDER]
    assert print_rows(pb) == [] and "print_fallback" not in events(pb, doc)


def test_a_step_claimed_before_the_read_does_nothing(pb, clock, org, smtp_server,
                                                      smtp_worker) -> None:
    standard_policy(pb, org)
    alice = activate_person(pb, clock, org, "C-1", "alice@example.org")
    start = clock.now()
    doc = send(pb, org, "C-1")
    smtp_worker.drain()
    _go(clock, start, 3)
    [claimed] = outbox.claim(pb, "someone-else", kinds=(escalation.KIND,))
    read(pb, alice, doc)
    smtp_worker.run_job(claimed)
    _go(clock, start, 30)
    smtp_worker.drain()
    assert _subjects(smtp_server) == [ARRIVAL]
    assert print_rows(pb) == []


def test_a_hold_pauses_the_policy_and_keeps_the_spacing(pb, clock, org, smtp_server,
                                                        smtp_worker) -> None:
    standard_policy(pb, org)
    invite(pb, org, "C-1", "alice@example.org")
    start = clock.now()
    doc = send(pb, org, "C-1", case="2026/INV-9")
    smtp_worker.drain()
    _go(clock, start, 2)
    cases.hold(pb, org, "2026/INV-9", "clerk@acme.example")
    for day in (3, 4, 5):
        _go(clock, start, day)
        smtp_worker.drain()
    assert _subjects(smtp_server) == [ARRIVAL]  # day 3 came while on hold: waits
    _go(clock, start, 5, seconds=3600)
    cases.release(pb, org, "2026/INV-9", "clerk@acme.example")
    _go(clock, start, 6)  # the daily re-check after the release
    smtp_worker.drain()
    assert _subjects(smtp_server) == [ARRIVAL, REMINDER]
    # The day-7 reminder keeps its 4 days from the (late) day-3 one: day 10, not 7.
    _go(clock, start, 10, seconds=-1)
    smtp_worker.drain()
    assert _subjects(smtp_server) == [ARRIVAL, REMINDER]
    _go(clock, start, 10)
    smtp_worker.drain()
    assert _subjects(smtp_server) == [ARRIVAL, REMINDER, REMINDER]
    _go(clock, start, 17, seconds=-1)
    smtp_worker.drain()
    assert print_rows(pb) == []
    _go(clock, start, 17)
    smtp_worker.drain()
    assert [r.document_id for r in print_rows(pb)] == [doc]


def test_the_policy_replaces_after_day_reminders_but_not_due_date_ones(
        pb, clock, org, smtp_server, smtp_worker) -> None:
    reminders.set_policy(pb, org, [2, 3], [1])
    standard_policy(pb, org)
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1", due_date=(clock.now() + timedelta(days=10)).date())
    labels = sorted(j.dedupe_key.rsplit(":", 1)[1] for j in jobs(pb, reminders.KIND))
    assert labels == ["due-1"]
    assert len(jobs(pb, escalation.KIND)) == 1


def test_without_a_policy_nothing_changes(pb, clock, org, smtp_server, smtp_worker) -> None:
    reminders.set_policy(pb, org, [3], [])
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1")
    assert jobs(pb, escalation.KIND) == [] and len(jobs(pb, reminders.KIND)) == 1
