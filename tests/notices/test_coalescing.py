"""Coalescing: at once after a quiet period, then at most one notice per recipient per window."""
from __future__ import annotations

import re
from itertools import pairwise

from postbox import notices

from .conftest import events, evidence_rows, invite, jobs, parts, send

WINDOW = 600  # the default POSTBOX_NOTICE_WINDOW


def _count(message) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r"There (?:is|are) (\d+) new documents?", parts(message)[0])
    assert found, parts(message)[0]
    return found.group(1)


def test_first_at_once_then_gathered_into_the_next_window(pb, clock, org, smtp_server,
                                                          smtp_worker) -> None:
    invite(pb, org, "C-1", "alice@example.org")
    first = send(pb, org, "C-1")
    smtp_worker.drain()
    assert len(smtp_server.messages) == 1  # the first arrival after a quiet period: at once

    clock.advance(seconds=60)
    later = [send(pb, org, "C-1") for _ in range(2)]
    clock.advance(seconds=120)
    later.append(send(pb, org, "C-1"))
    smtp_worker.drain()
    assert len(smtp_server.messages) == 1  # still inside the window
    clock.advance(seconds=WINDOW - 180 - 1)
    smtp_worker.drain()
    assert len(smtp_server.messages) == 1
    clock.advance(seconds=1)  # exactly one window after the first notice
    smtp_worker.drain()
    assert [_count(m) for m in smtp_server.messages] == ["1", "3"]
    assert len({m["Message-ID"] for m in smtp_server.messages}) == 2
    for doc in [first, *later]:
        assert events(pb, doc).count("notified") == 1
    assert len(evidence_rows(pb, "notified")) == 4


def test_a_burst_is_one_notice(pb, org, smtp_server, smtp_worker) -> None:
    invite(pb, org, "C-1", "alice@example.org")
    for _ in range(3):
        send(pb, org, "C-1")
    smtp_worker.drain()
    assert [_count(m) for m in smtp_server.messages] == ["3"]


def test_quiet_again_means_at_once_again(pb, clock, org, smtp_server, smtp_worker) -> None:
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1")
    smtp_worker.drain()
    clock.advance(seconds=WINDOW + 5)
    send(pb, org, "C-1")
    smtp_worker.drain()
    assert len(smtp_server.messages) == 2


def test_never_two_notices_in_one_window_even_with_a_steady_stream(
        pb, clock, org, smtp_server, smtp_worker) -> None:
    invite(pb, org, "C-1", "alice@example.org")
    sent_at = []
    for _ in range(40):  # one document every 100 s for over an hour
        send(pb, org, "C-1")
        before = len(smtp_server.messages)
        smtp_worker.drain()
        if len(smtp_server.messages) > before:
            sent_at.append(clock.now())
        clock.advance(seconds=100)
    smtp_worker.drain()
    gaps = [(b - a).total_seconds() for a, b in pairwise(sent_at)]
    assert gaps and min(gaps) >= WINDOW
    # Every document is either covered by a notice already or waits for the next one.
    assert len(evidence_rows(pb, "notified")) + _waiting(pb) == 40
    assert sum(j.status == "pending" for j in jobs(pb, notices.MAIL_KIND)) <= 1


def _waiting(pb) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from postbox.models import NoticeItem

    with pb.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(NoticeItem)
                                  .where(NoticeItem.state == "waiting")) or 0


def test_recipients_are_coalesced_separately(pb, org, smtp_server, smtp_worker) -> None:
    invite(pb, org, "C-1", "alice@example.org")
    invite(pb, org, "C-2", "bob@example.org")
    send(pb, org, "C-1")
    send(pb, org, "C-2")
    send(pb, org, "C-2")
    smtp_worker.drain()
    by_rcpt = {t.rcpt_tos[0]: _count(t.message) for t in smtp_server.accepted}
    assert by_rcpt == {"alice@example.org": "1", "bob@example.org": "2"}


def test_messages_from_an_organisation_are_notified_the_same_way(
        pb, clock, org, smtp_server, smtp_worker) -> None:
    rid = invite(pb, org, "C-1", "alice@example.org")
    doc = send(pb, org, "C-1")
    smtp_worker.drain()
    clock.advance(seconds=WINDOW)
    with pb.uow() as uow:  # what the cases feature calls when an organisation answers
        notices.enqueue_notice(uow.session, rid, doc, clock.now(), reason="message")
        uow.commit()
    smtp_worker.drain()
    assert "There is 1 new message in your postbox." in parts(smtp_server.messages[-1])[0]
    assert [e for e in events(pb, doc) if e == "notified"] == ["notified", "notified"]
