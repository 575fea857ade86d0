"""Reminders with an injected clock: after N days, before a due date, only while unread."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from postbox import auth, cases, outbox, reading, reminders
from postbox.errors import InvalidInput
from tests.web.helpers import PIN, activate_person

from .conftest import invite, jobs, send

REMINDER_SUBJECT = "Reminder: unread post in your postbox"


def _subjects(server) -> list[str]:  # type: ignore[no-untyped-def]
    return [m["Subject"] for m in server.messages]


def test_after_3_and_7_days_while_unread(pb, clock, org, smtp_server, smtp_worker) -> None:
    reminders.set_policy(pb, org, [7, 3], [])
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1")
    smtp_worker.drain()
    clock.advance(days=3, seconds=-1)
    smtp_worker.drain()
    assert len(smtp_server.messages) == 1
    clock.advance(seconds=1)
    smtp_worker.drain()
    clock.advance(days=4)
    smtp_worker.drain()
    clock.advance(days=30)
    smtp_worker.drain()
    assert _subjects(smtp_server) == ["You have new post in your postbox",
                                      REMINDER_SUBJECT, REMINDER_SUBJECT]
    assert "1 document in your postbox is still unread." in \
        smtp_server.messages[1].get_body(("plain",)).get_content()


def test_reading_cancels_pending_reminders(pb, clock, org, smtp_server, smtp_worker) -> None:
    reminders.set_policy(pb, org, [3, 7], [])
    alice = activate_person(pb, clock, org, "C-1", "alice@example.org")
    doc = send(pb, org, "C-1")
    smtp_worker.drain()
    clock.advance(days=1)
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    reading.read_all(pb, vault, doc)
    pending = jobs(pb, reminders.KIND)
    assert len(pending) == 2 and all(j.status == "done" for j in pending)
    assert all(j.last_error == "cancelled: read" for j in pending)
    clock.advance(days=10)
    smtp_worker.drain()
    assert _subjects(smtp_server) == ["You have new post in your postbox"]


def test_a_reminder_that_comes_due_after_reading_sends_nothing(
        pb, clock, org, smtp_server, smtp_worker) -> None:
    # The read happens while the reminder is already claimed (so not cancellable): it must
    # still not go out.
    reminders.set_policy(pb, org, [3], [])
    alice = activate_person(pb, clock, org, "C-1", "alice@example.org")
    doc = send(pb, org, "C-1")
    smtp_worker.drain()
    clock.advance(days=3)
    [claimed] = outbox.claim(pb, "someone-else", kinds=(reminders.KIND,))
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    reading.read_all(pb, vault, doc)
    smtp_worker.run_job(claimed)
    smtp_worker.drain()
    assert _subjects(smtp_server) == ["You have new post in your postbox"]


def test_before_the_due_date(pb, clock, org, smtp_server, smtp_worker) -> None:
    reminders.set_policy(pb, org, [], [2])
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1", due_date=date(2026, 12, 4))
    smtp_worker.drain()
    [job] = jobs(pb, reminders.KIND)
    assert job.run_after == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    clock.advance(days=7, hours=22, seconds=59 * 60 + 59)  # 2026-12-02 07:59:59
    smtp_worker.drain()
    assert len(smtp_server.messages) == 1
    clock.advance(seconds=1)
    smtp_worker.drain()
    assert _subjects(smtp_server) == ["You have new post in your postbox", REMINDER_SUBJECT]


def test_due_date_reminders_in_the_past_are_skipped(pb, org, smtp_worker) -> None:
    reminders.set_policy(pb, org, [], [5])
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1", due_date=date(2026, 11, 26))
    assert jobs(pb, reminders.KIND) == []


def test_per_document_schedule_replaces_the_policy(pb, clock, org, smtp_server,
                                                   smtp_worker) -> None:
    reminders.set_policy(pb, org, [3], [])
    invite(pb, org, "C-1", "alice@example.org")
    doc = send(pb, org, "C-1")
    due = reminders.set_for_document(pb, org, doc, [1], [])
    assert due == [clock.now() + timedelta(days=1)]
    smtp_worker.drain()
    clock.advance(days=1)
    smtp_worker.drain()
    clock.advance(days=5)
    smtp_worker.drain()
    assert _subjects(smtp_server).count(REMINDER_SUBJECT) == 1


def test_reminders_wait_while_the_case_is_on_hold(pb, clock, org, smtp_server,
                                                  smtp_worker) -> None:
    reminders.set_policy(pb, org, [3], [])
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1", case="CASE-1")
    smtp_worker.drain()
    cases.hold(pb, org, "CASE-1", "clerk@acme.example")
    clock.advance(days=3)
    smtp_worker.drain()
    assert REMINDER_SUBJECT not in _subjects(smtp_server)
    cases.release(pb, org, "CASE-1", "clerk@acme.example")
    clock.advance(days=1)
    smtp_worker.drain()
    assert _subjects(smtp_server).count(REMINDER_SUBJECT) == 1


def test_a_reminder_and_an_arrival_share_one_notice(pb, clock, org, smtp_server,
                                                    smtp_worker) -> None:
    reminders.set_policy(pb, org, [3], [])
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1")
    smtp_worker.drain()
    clock.advance(days=3)
    send(pb, org, "C-1")
    clock.advance(seconds=1)
    smtp_worker.drain()
    assert len(smtp_server.messages) == 2
    text = smtp_server.messages[1].get_body(("plain",)).get_content()
    assert "There is 1 new document" in text and "1 document in your postbox is still unread" \
        in text


def test_policy_values_are_checked(pb, org) -> None:
    for bad in ([0], [400], [1, 2, 3, 4, 5, 6], ["x"]):
        with pytest.raises(InvalidInput):
            reminders.set_policy(pb, org, bad, [])
    assert reminders.get_policy(pb, org) == reminders.Policy((), ())


def test_a_stored_policy_reads_back(pb, org) -> None:
    reminders.set_policy(pb, org, [7, 3], [2])
    assert reminders.get_policy(pb, org) == reminders.Policy((3, 7), (2,))
