"""Helpers for the notice, outbox and webhook tests: recipients, deliveries, a worker."""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from postbox import delivery, evidence, orgs, recipients
from postbox.bootstrap import Postbox
from postbox.mail import Mailer, SmtpMailer, parse_smtp_url
from postbox.models import Evidence, Outbox, Recipient
from postbox.worker import Worker
from tests.fixtures.postbox import pdf_bytes
from tests.fixtures.smtp import SmtpServer


@pytest.fixture
def org(pb: Postbox) -> str:
    return orgs.create_org(pb, "Acme Bank", "acme").slug


def invite(pb: Postbox, org: str, external_id: str, email: str) -> str:
    return recipients.invite_recipient(pb, org, external_id, email).recipient_id


def send(pb: Postbox, org: str, external_id: str, subject: str = "Your letter",
         filename: str = "letter.pdf", text: str = "Dear customer", **kw: object) -> str:
    receipt = delivery.deliver(pb, org, external_id, io.BytesIO(pdf_bytes(text)), subject,
                               filename, **kw)  # type: ignore[arg-type]
    return receipt.document_id


@pytest.fixture
def make_worker(pb: Postbox) -> Iterator[Callable[..., Worker]]:
    made: list[Worker] = []

    def factory(mailer: Mailer | None = None, **kw: object) -> Worker:
        w = Worker(pb, mailer=mailer, rng=random.Random(7), **kw)  # type: ignore[arg-type]
        made.append(w)
        return w

    yield factory
    for w in made:
        w.close()


@pytest.fixture
def smtp_worker(make_worker: Callable[..., Worker], smtp_server: SmtpServer) -> Worker:
    return make_worker(SmtpMailer(parse_smtp_url(smtp_server.url)))


def jobs(pb: Postbox, kind: str | None = None) -> list[Outbox]:
    with pb.uow() as uow:
        q = select(Outbox).order_by(Outbox.created_at, Outbox.id)
        if kind is not None:
            q = q.where(Outbox.kind == kind)
        rows = list(uow.session.scalars(q))
        uow.session.expunge_all()  # keep them readable after the session ends
        return rows


def events(pb: Postbox, document_id: str) -> list[str]:
    with pb.uow() as uow:
        return [e.event for e in evidence.for_document(uow.session, document_id)]


def evidence_rows(pb: Postbox, event: str) -> list[Evidence]:
    with pb.uow() as uow:
        rows = list(uow.session.scalars(select(Evidence).where(Evidence.event == event)))
        uow.session.expunge_all()
        return rows


def set_phrase(pb: Postbox, recipient_id: str, phrase: str) -> None:
    with pb.uow() as uow:
        row = uow.session.get(Recipient, recipient_id)
        row.anti_phishing_sealed = pb.keys.seal("phrase", recipient_id, phrase.encode())
        uow.commit()


def update(pb: Postbox, model: type, key: str, **values: object) -> None:
    with pb.uow() as uow:
        row = uow.session.get(model, key)
        for name, value in values.items():
            setattr(row, name, value)
        uow.commit()


def parts(message: EmailMessage) -> tuple[str, str]:
    """The decoded text/plain and text/html bodies."""
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    answered: int

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


def spec_signature_ok(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks check written from the spec, independent of postbox.webhooks."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(sig.partition(",")[2], expected)
               for sig in headers.get("webhook-signature", "").split()
               if sig.startswith("v1,"))


class Receiver:
    """A webhook receiver on loopback: checks each signature, answers as scripted."""

    def __init__(self) -> None:
        self.secret = ""
        self.statuses: deque[int] = deque()
        self.delay_s = 0.0
        self.deliveries: list[Delivery] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver.statuses.popleft() if receiver.statuses else 200
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                receiver.deliveries.append(Delivery(
                    headers, body, spec_signature_ok(receiver.secret, headers, body), status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def allow_private(pb: Postbox) -> None:
    """Webhooks to loopback (the test receiver) are allowed."""
    pb.settings = pb.settings.with_overrides(webhook_allow_private=True)
