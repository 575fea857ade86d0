"""SMTP trouble: 4xx retried, 5xx final, outages survived, dead letters visible, crashes bounded."""
from __future__ import annotations

import random
from datetime import timedelta

import pytest
from click.testing import CliRunner

from postbox import notices, outbox, recipients
from postbox.mail import SmtpMailer, parse_smtp_url
from postbox.models import Recipient

from .conftest import events, invite, jobs, send, update

CAP = timedelta(hours=6)  # POSTBOX_OUTBOX_BACKOFF_CAP: past it every retry is due


def test_451_then_ok_is_retried_with_the_same_message_id(pb, clock, org, smtp_server,
                                                          smtp_worker) -> None:
    invite(pb, org, "C-1", "alice@example.org")
    doc = send(pb, org, "C-1")
    smtp_server.data_replies.append("451 4.7.1 greylisted, try later")
    smtp_worker.drain()
    [job] = jobs(pb, notices.MAIL_KIND)
    assert job.status == "pending" and job.attempts == 1 and job.run_after > clock.now()
    assert "451" in (job.last_error or "")
    assert "notified" not in events(pb, doc)
    clock.advance(seconds=(job.run_after - clock.now()).total_seconds())
    smtp_worker.drain()
    first, second = smtp_server.transactions
    assert (first.reply[:3], second.reply[:3]) == ("451", "250")
    assert first.message["Message-ID"] == second.message["Message-ID"]
    assert first.data == second.data  # the very same message
    assert events(pb, doc).count("notified") == 1


@pytest.mark.parametrize("where", ["rcpt", "data"])
def test_550_is_not_retried_and_flags_the_address(pb, clock, org, smtp_server, smtp_worker,
                                                  where) -> None:
    rid = invite(pb, org, "C-1", "alice@example.org")
    doc = send(pb, org, "C-1")
    if where == "rcpt":
        smtp_server.rcpt_replies["alice@example.org"] = "550 5.1.1 no such user"
    else:
        smtp_server.data_replies.append("550 5.1.1 no such user")
    smtp_worker.drain()
    clock.advance(hours=24)
    smtp_worker.drain()
    assert len(smtp_server.handler.rcpt_log) == 1  # one attempt, never again
    [job] = jobs(pb, notices.MAIL_KIND)
    assert job.status == "done" and job.attempts == 1 and "550" in (job.last_error or "")
    assert events(pb, doc)[-1] == "notice_failed"
    assert recipients.reachability(pb, org, "C-1") == "bouncing"
    # Further notices to the bouncing address are not even tried ...
    later = send(pb, org, "C-1")
    clock.advance(hours=1)
    smtp_worker.drain()
    assert len(smtp_server.handler.rcpt_log) == 1
    assert events(pb, later)[-1] == "notice_failed"
    # ... until the recipient gives a new address.
    smtp_server.rcpt_replies.clear()
    update(pb, Recipient, rid, email="alice@new.example.org")
    third = send(pb, org, "C-1")
    clock.advance(hours=1)
    smtp_worker.drain()
    assert smtp_server.accepted[-1].rcpt_tos == ["alice@new.example.org"]
    assert events(pb, third)[-1] == "notified"
    assert recipients.reachability(pb, org, "C-1") == "invited"  # no longer bouncing


def test_smtp_down_for_a_while_nothing_lost_no_new_message_id(pb, clock, org, smtp_server,
                                                              smtp_worker) -> None:
    people = [f"C-{n}" for n in range(6)]
    for ext in people:
        invite(pb, org, ext, f"{ext.lower()}@example.org")
    smtp_server.stop()
    docs = [send(pb, org, ext) for ext in people for _ in range(2)]
    clock.advance(seconds=1)
    for _ in range(4):  # the relay stays down through several retries
        smtp_worker.drain()
        clock.advance(minutes=10)
    mail_jobs = jobs(pb, notices.MAIL_KIND)
    assert len(mail_jobs) == len(people)
    assert all(j.status == "pending" and j.attempts >= 2 for j in mail_jobs)
    smtp_server.start()
    clock.advance(seconds=CAP.total_seconds())
    smtp_worker.drain()
    accepted = smtp_server.accepted
    assert sorted(t.rcpt_tos[0] for t in accepted) == sorted(
        f"{ext.lower()}@example.org" for ext in people)  # 0 lost, 0 twice
    assert {t.message["Message-ID"] for t in accepted} == {
        notices.message_id(j.id, pb.settings) for j in mail_jobs}  # 0 new Message-IDs
    assert [(j.kind, j.status, j.last_error) for j in jobs(pb) if j.status != "done"] == []
    for doc in docs:
        assert events(pb, doc).count("notified") == 1


def test_dead_letter_after_the_configured_tries_is_visible(pb, clock, org, smtp_server,
                                                           smtp_worker, settings) -> None:
    pb.settings = pb.settings.with_overrides(outbox_max_attempts=3)
    invite(pb, org, "C-1", "alice@example.org")
    doc = send(pb, org, "C-1")
    smtp_server.data_replies.extend(["451 4.3.0 try later"] * 3)
    for _ in range(4):
        smtp_worker.drain()
        clock.advance(seconds=CAP.total_seconds())
    [job] = jobs(pb, notices.MAIL_KIND)
    assert job.status == "dead" and job.attempts == 3
    assert len(smtp_server.transactions) == 3
    assert events(pb, doc)[-1] == "notice_failed"  # the sender learns the notice failed
    assert [d.id for d in outbox.dead_letters(pb)] == [job.id]

    from cli.main import main

    env = {"POSTBOX_HOME": str(settings.home), "POSTBOX_DATABASE_URL": settings.database_url,
           "POSTBOX_MASTER_KEY": settings.master_key_hex or ""}
    shown = CliRunner().invoke(main, ["worker", "--dead"], env=env)
    assert shown.exit_code == 0 and job.id in shown.output and "451" in shown.output
    requeued = CliRunner().invoke(main, ["worker", "--requeue", job.id], env=env)
    assert requeued.exit_code == 0 and requeued.output.strip().endswith(job.id)
    assert jobs(pb, notices.MAIL_KIND)[0].status == "pending"


class Crash(BaseException):
    """Stands in for the process dying right after the server took the message."""


class SendThenDie:
    def __init__(self, inner: SmtpMailer) -> None:
        self.inner, self.armed = inner, True

    def describe(self) -> str:
        return "crashing mailer"

    def send(self, message) -> None:  # type: ignore[no-untyped-def]
        self.inner.send(message)
        if self.armed:
            self.armed = False
            raise Crash()


def test_a_crash_after_sending_resends_once_with_the_same_message_id(
        pb, clock, org, smtp_server, make_worker) -> None:
    invite(pb, org, "C-1", "alice@example.org")
    doc = send(pb, org, "C-1")
    mailer = SendThenDie(SmtpMailer(parse_smtp_url(smtp_server.url)))
    dying = make_worker(mailer)
    with pytest.raises(Crash):
        dying.drain()
    assert len(smtp_server.accepted) == 1 and "notified" not in events(pb, doc)
    survivor = make_worker(mailer)
    survivor.drain()  # the lease still holds: nobody touches the job
    assert len(smtp_server.accepted) == 1
    clock.advance(seconds=pb.settings.outbox_lease_s)
    survivor.drain()
    first, second = smtp_server.accepted
    assert first.message["Message-ID"] == second.message["Message-ID"]
    assert events(pb, doc).count("notified") == 1
    [job] = jobs(pb, notices.MAIL_KIND)
    assert job.status == "done" and job.attempts == 2


def test_backoff_has_full_jitter_under_a_cap() -> None:
    backoff = outbox.Backoff(30, 3600, random.Random(1))
    for attempt in range(1, 12):
        ceiling = min(3600, 30 * 2 ** (attempt - 1))
        delays = [backoff.delay(attempt).total_seconds() for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling and min(delays) < 0.2 * ceiling
    pinned = [outbox.Backoff(30, 3600, random.Random(5)).delay(4) for _ in range(2)]
    assert pinned[0] == pinned[1]  # randomness is injected: reproducible
