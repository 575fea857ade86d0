"""Helpers for portal tests: a recipient activated through the services, CSRF-aware posting."""
from __future__ import annotations

import io
import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from postbox import delivery
from postbox.bootstrap import Postbox
from tests.fixtures.postbox import PIN, Person, activate_person, pdf_bytes  # noqa: F401

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


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
