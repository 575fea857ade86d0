"""OWASP ASVS 5.0 V1 (encoding and sanitization) where our output leaves for other
interpreters: e-mail (SMTP, 1.3.11) and spreadsheets (CSV, 1.2.10).

One test per requirement, named by id, with real components: the notice worker talking to a
real SMTP server (aiosmtpd, tests/fixtures/smtp.py) and the batch report downloaded through the
API and the organisation console.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import update

from postbox import delivery, orgs, recipients
from postbox.bootstrap import Postbox
from postbox.clock import FrozenClock
from postbox.errors import InvalidInput
from postbox.mail import SmtpMailer, parse_smtp_url
from postbox.models import Organisation, Recipient
from postbox.worker import Worker
from tests.fixtures.postbox import pdf_bytes
from tests.org.helpers import login as console_login
from tests.org.helpers import make_staff
from tests.web.helpers import send
from web import create_app

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
ATTACKER = "evil@attacker.example"
# What a spreadsheet runs (OWASP "CSV Injection"): a cell starting with one of these.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|", "%")


@pytest.fixture
def app(pb: Postbox) -> Iterator[Flask]:
    yield create_app(pb, {"TESTING": True, "ORG_LOGIN_LIMIT": "1000 per minute",
                          "API_RATE_LIMIT": "100000 per minute",
                          "API_AUTH_FAILURE_LIMIT": "100000 per minute"})


# -- 1.3.11 SMTP injection ------------------------------------------------------------------------

def test_asvs_1_3_11_no_smtp_or_header_injection(app, pb, org, alice, smtp_server) -> None:
    """No input reaches the SMTP conversation or the message headers as structure: addresses
    with line breaks are refused at every entry (service, API); even a tampered address row
    never adds a recipient (the mailer re-checks before RCPT); a header-like organisation
    name shown as the sender stays text in the body. The SMTP server sees exactly the
    recipients it should, with one To and no Bcc/Cc."""
    injected = f"victim@example.org\r\nBcc: {ATTACKER}"
    smuggled = f"victim@example.org>\r\nRCPT TO:<{ATTACKER}"
    for address in (injected, smuggled, f"victim@example.org\nCc: {ATTACKER}"):
        with pytest.raises(InvalidInput):
            recipients.invite_recipient(pb, org, "C-X", address)
    token = orgs.create_token(pb, org, "sender")
    answer = app.test_client().post("/api/v1/recipients", json={
        "external_id": "C-Y", "email": injected}, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 400 and answer.mimetype == "application/problem+json"
    with pytest.raises(InvalidInput):
        orgs.create_org(pb, f"Acme\r\nBcc: {ATTACKER}", "acme-2")

    # The sender is shown in notices, and its (valid) name looks like a header.
    with pb.uow() as uow:
        uow.session.execute(update(Organisation).where(Organisation.slug == org).values(
            name=f"Acme Bcc: {ATTACKER}", notice_show_sender=True))
        uow.commit()
    # A second recipient whose stored address was tampered with behind the service's back.
    bob = recipients.invite_recipient(pb, org, "C-2", "bob@example.org").recipient_id
    with pb.uow() as uow:
        uow.session.execute(update(Recipient).where(Recipient.id == bob).values(
            email=smuggled))
        uow.commit()
    send(pb, org, alice, "Letter for Alice")
    delivery.deliver(pb, org, "C-2", io.BytesIO(pdf_bytes("bob")), "Letter for Bob", "b.pdf")
    worker = Worker(pb, mailer=SmtpMailer(parse_smtp_url(smtp_server.url)))
    try:
        worker.drain()
    finally:
        worker.close()

    every_rcpt = [r for tx in smtp_server.transactions for r in tx.rcpt_tos]
    assert every_rcpt == [alice.email], every_rcpt  # never the attacker, never the smuggle
    (tx,) = smtp_server.transactions
    message = tx.message
    assert message.get_all("To") == [alice.email]
    assert message["Bcc"] is None and message["Cc"] is None
    raw = tx.data.decode("utf-8", "replace")
    head = raw.split("\r\n\r\n", 1)[0]
    assert ATTACKER not in head  # the organisation's name is body text only
    assert all(":" in line or line[:1] in " \t" for line in head.split("\r\n")), head


# -- 1.2.10 CSV injection -------------------------------------------------------------------------

HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+cmd|' /C calc'!A0", "-2+3+cmd",
           "@SUM(1+1)*cmd", "\t=1+1", "|calc", "%0A=1", "=1"]


def test_asvs_1_2_10_reports_are_safe_to_open_in_a_spreadsheet(app, pb, org, alice,
                                                               clock: FrozenClock) -> None:
    """Sender-chosen values (keys, client references, unknown customer numbers and the
    reasons that quote them) come back in the CSV report, through the API and the console,
    with no cell a spreadsheet would run as a formula; the values are still there, only
    prefixed with an apostrophe."""
    token = orgs.create_token(pb, org, "sender")
    api = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    batch = api.post("/api/v1/batches", json={}, headers=auth).get_json()["id"]
    kept: list[str] = []
    for n, hostile in enumerate(HOSTILE):
        item = {"key": hostile if n % 2 else f"k{n}", "client_ref": hostile,
                "recipient": alice.external_id if n % 3 else f"{hostile}", "subject": "S"}
        answer = api.post(f"/api/v1/batches/{batch}/items", headers=auth, data={
            "item": (io.BytesIO(json.dumps(item).encode()), "", "application/json"),
            "file": (io.BytesIO(pdf_bytes(f"doc {n}")), "a.pdf", "application/pdf")})
        assert answer.status_code == 200, answer.get_data(as_text=True)
        (outcome,) = answer.get_json()["items"]
        if outcome["seq"] is not None:  # kept (accepted or rejected): it is in the report
            kept.append(hostile)
    staff = make_staff(pb, clock, org, "sam@acme.example", "sender")
    console = app.test_client()
    assert console_login(console, staff).status_code == 302
    reports = {}
    for where, client, path, headers in (
            ("api", api, f"/api/v1/batches/{batch}/report.csv", auth),
            ("console", console, f"/org/batches/{batch}/report.csv", {})):
        response = client.get(path, headers=headers)
        assert response.status_code == 200, where
        reports[where] = response.get_data(as_text=True)  # read before the next request
    for where, text in reports.items():
        rows = list(csv.reader(io.StringIO(text)))
        cells = [cell for row in rows[1:] for cell in row]
        assert len(rows) > 1, where
        dangerous = [c for c in cells if c.startswith(FORMULA_START)]
        assert not dangerous, (where, dangerous)
        # The sender's values are all there, neutralised rather than dropped.
        assert len(kept) >= 6, kept
        for hostile in kept:
            assert "'" + hostile.strip() in cells, (where, hostile)  # stored stripped
