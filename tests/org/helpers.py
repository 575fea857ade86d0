"""Helpers for console tests: staff made through the services, logged in through the web."""
from __future__ import annotations

import io
import re
from dataclasses import dataclass

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from crypto.totp import code_at
from postbox import delivery, evidence, recipients, staff
from postbox.bootstrap import Postbox
from postbox.clock import FrozenClock
from postbox.errors import Conflict
from postbox.models import Document
from tests.fixtures.postbox import pdf_bytes

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class StaffPerson:
    staff_id: str
    email: str
    role: str
    totp_secret: str
    clock: FrozenClock
    password: str = PASSWORD

    def otp(self) -> str:
        """A fresh code: moves the clock one TOTP step on, so a code is never a replay."""
        self.clock.advance(seconds=30)
        return code_at(self.totp_secret, self.clock.now().timestamp())


def make_staff(pb: Postbox, clock: FrozenClock, org: str, email: str, role: str,
               password: str = PASSWORD) -> StaffPerson:
    invitation = staff.invite(pb, org, email, role, invited_by="test")
    start = staff.begin_join(pb, invitation.code)
    joined = staff.accept_invite(pb, invitation.code, password, password,
                                 code_at(start.totp_secret, clock.now().timestamp()))
    return StaffPerson(joined.id, email, role, start.totp_secret, clock, password)


def csrf_token(client: FlaskClient, path: str = "/org/login") -> str:
    page = client.get(path)
    found = _CSRF.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path} ({page.status_code})"
    return found.group(1)


def post(client: FlaskClient, path: str, data: dict[str, object] | None = None,
         token_from: str = "/org/login", **kwargs: object) -> TestResponse:
    """POST with a valid CSRF token taken from a page of this session."""
    form = {"csrf_token": csrf_token(client, token_from), **(data or {})}
    return client.post(path, data=form, **kwargs)  # type: ignore[arg-type]


def login(client: FlaskClient, person: StaffPerson, password: str | None = None,
          otp: str | None = None) -> TestResponse:
    return post(client, "/org/login", {"email": person.email,
                                       "password": password or person.password,
                                       "otp": otp or person.otp()})


def deliver(pb: Postbox, org: str, external_id: str, subject: str = "Letter", **kwargs: object
            ) -> str:
    """One delivered document (the recipient is invited first if new); its id."""
    try:
        recipients.invite_recipient(pb, org, external_id, f"{external_id.lower()}@example.org")
    except Conflict:
        pass
    receipt = delivery.deliver(pb, org, external_id, io.BytesIO(pdf_bytes(subject)), subject,
                               "letter.pdf", **kwargs)  # type: ignore[arg-type]
    return receipt.document_id


def mark(pb: Postbox, document_id: str, *, notified: bool = False, read: bool = False) -> None:
    """Test setup: what the notice worker and the recipient's first reading leave behind."""
    with pb.uow() as uow:
        doc = uow.session.get(Document, document_id)
        assert doc is not None
        subject = evidence.Subject(doc.org_id, doc.recipient_id, doc.id, doc.ciphertext_sha256)
        if notified:
            evidence.record(uow.session, pb.keys, "notified", subject, pb.clock.now())
            doc.status = "notified"
        if read:
            doc.first_read_at = pb.clock.now()
        uow.commit()
