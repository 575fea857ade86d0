"""Helpers for portal tests: a recipient activated through the services, CSRF-aware posting."""
from __future__ import annotations

import io
import re
from dataclasses import dataclass

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from crypto.totp import code_at
from postbox import activation, delivery, recipients
from postbox.bootstrap import Postbox
from postbox.clock import FrozenClock
from tests.fixtures.postbox import pdf_bytes

PIN = "482917"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Person:
    recipient_id: str
    external_id: str
    email: str
    totp_secret: str
    recovery_code: str
    clock: FrozenClock

    def otp(self) -> str:
        """A fresh code: moves the clock one TOTP step on, so a code is never a replay."""
        self.clock.advance(seconds=30)
        return code_at(self.totp_secret, self.clock.now().timestamp())


def activate_person(pb: Postbox, clock: FrozenClock, org: str, external_id: str,
                    email: str, pin: str = PIN) -> Person:
    inv = recipients.invite_recipient(pb, org, external_id, email)
    assert inv.activation_code is not None
    start = activation.begin_activation(pb, inv.activation_code)
    done = activation.activate(pb, inv.activation_code, pin, pin,
                               code_at(start.totp_secret, clock.now().timestamp()))
    return Person(done.recipient_id, external_id, email, start.totp_secret, done.recovery_code,
                  clock)


def send(pb: Postbox, org: str, person: Person, subject: str, text: str | None = None,
         filename: str = "letter.pdf", **kwargs: object) -> tuple[str, bytes]:
    pdf = pdf_bytes(text or subject)
    receipt = delivery.deliver(pb, org, person.external_id, io.BytesIO(pdf), subject, filename,
                               **kwargs)  # type: ignore[arg-type]
    return receipt.document_id, pdf


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path)
    found = _CSRF.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def post(client: FlaskClient, path: str, data: dict[str, str] | None = None,
         token_from: str = "/login", **kwargs: object) -> TestResponse:
    """POST with a valid CSRF token taken from a page of this session."""
    form = {"csrf_token": csrf_token(client, token_from), **(data or {})}
    return client.post(path, data=form, **kwargs)  # type: ignore[arg-type]


def login(client: FlaskClient, person: Person, pin: str = PIN) -> TestResponse:
    return post(client, "/login", {"identifier": person.email, "pin": pin,
                                   "otp": person.otp()})
