"""The arrival notice as a real SMTP server receives it: headers, both parts, nothing leaked."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import update as sql_update

from postbox import notices, recipients
from postbox.config import load_settings
from postbox.errors import ConfigError, InvalidInput
from postbox.mail import EmlFileMailer, SmtpMailer, parse_smtp_url
from postbox.models import Document, Organisation, Recipient

from .conftest import events, evidence_rows, invite, jobs, parts, send, set_phrase, update

CANARY_SUBJECT = "Canary-Subject-7f3a Dunning letter"
CANARY_FILE = "canary-file-91bd.pdf"
CANARY_TEXT = "canary-content-c0ffee"
LINKISH = re.compile(r"https?:|www\.|<a[\s>]|href=|\.pdf", re.IGNORECASE)


def test_transcript_headers_parts_and_no_leaks(pb, org, smtp_server, smtp_worker) -> None:
    rid = invite(pb, org, "C-1", "alice@example.org")
    set_phrase(pb, rid, "blue kettle")
    doc = send(pb, org, "C-1", subject=CANARY_SUBJECT, filename=CANARY_FILE, text=CANARY_TEXT)

    assert smtp_worker.drain() == 2  # the arrival, then the notice e-mail
    [tx] = smtp_server.transactions
    [mail_job] = jobs(pb, notices.MAIL_KIND)
    # The envelope as the client sent it.
    assert tx.mail_from == "postbox@localhost"
    assert tx.rcpt_tos == ["alice@example.org"]
    msg = tx.message
    assert msg["From"] == "postbox@localhost" and msg["To"] == "alice@example.org"
    assert msg["Subject"] == "You have new post in your postbox"
    assert msg["Message-ID"] == f"<{mail_job.id}.notice@localhost>"
    assert msg["Auto-Submitted"] == "auto-generated" and msg["Content-Language"] == "en"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    plain, html = parts(msg)
    code = notices.notice_code(pb, rid)
    for body in (plain, html):
        assert "1 new document" in body
        assert "blue kettle" in body and code in body
        assert not LINKISH.search(body), body
    raw = tx.data.decode("ascii", "replace")
    for secret in ("Canary-Subject-7f3a", "Dunning", "canary-file-91bd", CANARY_TEXT,
                   "Acme Bank", "C-1"):
        assert secret.lower() not in (raw + plain + html).lower()
    assert not LINKISH.search(raw.replace("=\r\n", ""))
    # Evidence and status follow the successful send.
    assert events(pb, doc) == ["submission_accepted", "consigned", "notified"]
    [notified] = evidence_rows(pb, "notified")
    assert json.loads(notified.body)["details"] == {
        "channel": "email", "notice": msg["Message-ID"], "cause": "arrival"}
    with pb.uow() as uow:
        assert uow.session.get(Document, doc).status == "notified"


def test_sender_and_plain_address_only_when_configured(pb, org, smtp_server,
                                                       make_worker) -> None:
    pb.settings = pb.settings.with_overrides(notice_show_address=True,
                                             public_url="https://post.example.net")
    with pb.uow() as uow:
        uow.session.execute(sql_update(Organisation).values(notice_show_sender=True))
        uow.commit()
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1")
    make_worker(SmtpMailer(parse_smtp_url(smtp_server.url))).drain()
    plain, html = parts(smtp_server.messages[0])
    for body in (plain, html):
        assert "From: Acme Bank" in body
        assert "Your postbox: post.example.net" in body  # text to type, not a link
        assert not LINKISH.search(body)


def test_german_notice_for_a_german_recipient(pb, org, smtp_server, smtp_worker) -> None:
    rid = invite(pb, org, "C-1", "anna@example.de")
    update(pb, Recipient, rid, language="de")
    send(pb, org, "C-1")
    send(pb, org, "C-1")
    smtp_worker.drain()
    [msg] = smtp_server.messages
    assert msg["Subject"] == "Neue Post in Ihrem Postfach" and msg["Content-Language"] == "de"
    plain, html = parts(msg)
    assert "2 neue Dokumente" in plain and "Sicherheitsphrase" in html


def test_crlf_in_an_address_is_refused_at_input_and_never_reaches_smtp(
        pb, org, smtp_server, smtp_worker) -> None:
    with pytest.raises(InvalidInput):
        recipients.invite_recipient(pb, org, "C-9", "a@example.org\r\nBcc: evil@example.org")
    with pytest.raises(ConfigError):
        load_settings({"POSTBOX_MAIL_FROM": "x@example.org\r\nBcc: evil@example.org"})
    # Even a value that bypassed input checks (a tampered row) stops before SMTP.
    rid = invite(pb, org, "C-1", "alice@example.org")
    doc = send(pb, org, "C-1")
    update(pb, Recipient, rid, email="alice@example.org\r\nBcc: evil@example.org")
    smtp_worker.drain()
    assert smtp_server.transactions == [] and smtp_server.handler.rcpt_log == []
    assert events(pb, doc)[-1] == "notice_failed"


def test_starttls_with_auth(pb, org, smtp_tls_server, make_worker) -> None:
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1")
    make_worker(SmtpMailer(parse_smtp_url(smtp_tls_server.url))).drain()
    assert len(smtp_tls_server.messages) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls(pb, org, smtps_server, make_worker) -> None:
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1")
    make_worker(SmtpMailer(parse_smtp_url(smtps_server.url))).drain()
    assert len(smtps_server.messages) == 1


def test_a_refused_login_is_our_problem_not_a_bounce(pb, org, smtp_tls_server,
                                                     make_worker) -> None:
    rid = invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1")
    url = smtp_tls_server.url.replace(":s3cret@", ":wrong@")
    make_worker(SmtpMailer(parse_smtp_url(url))).drain()
    [job] = jobs(pb, notices.MAIL_KIND)
    assert job.status == "pending" and job.attempts == 1  # retried later
    with pb.uow() as uow:
        assert uow.session.get(Recipient, rid).email_bouncing is False


def test_smtp_url_forms() -> None:
    t = parse_smtp_url("smtp+starttls://user%40x:p%3Ass@mail.example.org?timeout=7")
    assert (t.scheme, t.host, t.port, t.username, t.password, t.timeout_s) == (
        "smtp+starttls", "mail.example.org", 587, "user@x", "p:ss", 7.0)
    assert parse_smtp_url("smtps://mail.example.org").port == 465
    assert "p:ss" not in repr(t)
    for bad in ("http://mail.example.org", "smtp://", "smtp://h?timeout=0"):
        with pytest.raises(ConfigError):
            parse_smtp_url(bad)


def test_default_writes_eml_files_named_by_message_id(pb, org, make_worker) -> None:
    assert pb.settings.smtp_url is None
    worker = make_worker()  # the embedded default mailer
    assert isinstance(worker.ctx.mailer, EmlFileMailer)
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1")
    worker.drain()
    [path] = list((pb.settings.home / "mail").glob("*.eml"))
    [job] = jobs(pb, notices.MAIL_KIND)
    assert path.name == f"{job.id}.notice@localhost.eml"
    assert path.stat().st_mode & 0o077 == 0
    assert b"1 new document" in path.read_bytes()


def test_a_delegates_open_tells_the_owner_without_naming_the_document(pb, org, smtp_server,
                                                                      smtp_worker) -> None:
    """The owner learns that someone they trusted opened post; the e-mail names no document."""
    rid = invite(pb, org, "C-1", "olga@example.org")
    doc = send(pb, org, "C-1", subject=CANARY_SUBJECT, filename=CANARY_FILE, text=CANARY_TEXT)
    smtp_worker.drain()
    assert len(smtp_server.messages) == 1  # the arrival
    before = events(pb, doc).count("notified")
    with pb.uow() as uow:
        notices.enqueue_notice(uow.session, rid, doc, pb.clock.now(), reason="delegate_open")
        uow.commit()
    pb.clock.advance(seconds=pb.settings.notice_window_s + 1)
    smtp_worker.drain()
    [_, msg] = smtp_server.messages
    assert msg["Subject"] == "Your postbox was used by someone you gave access to"
    plain, html = parts(msg)
    assert "opened 1 document" in plain and "history" in html
    assert CANARY_SUBJECT not in plain + html and CANARY_FILE not in plain + html
    assert not LINKISH.search(plain)
    assert events(pb, doc).count("notified") == before + 1  # the owner's chain shows it


def test_enqueue_refuses_an_unknown_reason(pb, org) -> None:
    with pb.uow() as uow, pytest.raises(ValueError):
        notices.enqueue_notice(uow.session, "x", "y", pb.clock.now(), reason="reminder")
