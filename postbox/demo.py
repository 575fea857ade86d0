"""Demo data for `make run`: an organisation, an activated recipient, three sample letters.

The demo recipient's PIN and TOTP secret are kept in ``instance/demo-credentials.json`` (mode
0600) so a second `make run` can print them again; this is demo data, never production.
"""
from __future__ import annotations

import io
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from crypto.totp import code_at
from postbox import activation, delivery, orgs, recipients
from postbox.bootstrap import Postbox
from postbox.errors import NotFound
from postbox.instance import write_secret_file
from postbox.letters import sample_document
from postbox.validation import pin as check_pin

ORG_SLUG = "demo-bank"
EXTERNAL_ID = "DEMO-1"
EMAIL = "demo@example.org"
SAMPLES = [
    ("Account statement, October", "statement-2026-10.pdf",
     ["Opening balance: 1,204.50 EUR.", "Closing balance: 1,388.10 EUR.",
      "Thank you for banking with us."]),
    ("Changes to our terms", "terms-2027.pdf",
     ["From 1 January 2027 our fee schedule changes as set out below.",
      "You do not need to do anything."]),
    ("Annual tax certificate 2025", "tax-certificate-2025.pdf",
     ["Interest credited in 2025: 12.44 EUR.", "Keep this certificate for your tax return."]),
]


@dataclass(frozen=True)
class DemoLogin:
    identifier: str
    pin: str
    totp_secret: str
    created: bool

    def current_code(self, unix_time: float) -> str:
        return code_at(self.totp_secret, unix_time)


def _credentials_file(pb: Postbox) -> Path:
    return pb.settings.home / "demo-credentials.json"


def _random_pin() -> str:
    while True:
        candidate = f"{secrets.randbelow(10**6):06d}"
        try:
            return check_pin(candidate)
        except Exception:  # noqa: BLE001 - weak PIN drawn; draw again
            continue


def ensure_demo(pb: Postbox) -> DemoLogin:
    """Create the demo data once; afterwards return the stored login."""
    path = _credentials_file(pb)
    if path.exists():
        data = json.loads(path.read_text())
        return DemoLogin(data["identifier"], data["pin"], data["totp_secret"], created=False)
    try:
        orgs.get_org(pb, ORG_SLUG)
    except NotFound:
        orgs.create_org(pb, "Demo Bank", ORG_SLUG)
    invitation = recipients.invite_recipient(pb, ORG_SLUG, EXTERNAL_ID, EMAIL)
    if invitation.activation_code is None:
        raise NotFound("the demo recipient exists but its credentials file is gone; "
                       "remove the instance folder to start over")
    start = activation.begin_activation(pb, invitation.activation_code)
    pin = _random_pin()
    activation.activate(pb, invitation.activation_code, pin, pin,
                        code_at(start.totp_secret, pb.clock.now().timestamp() - 30))
    for title, filename, paragraphs in SAMPLES:
        pdf = sample_document(title, "Demo Bank", paragraphs)
        delivery.deliver(pb, ORG_SLUG, EXTERNAL_ID, io.BytesIO(pdf), title, filename)
    login = DemoLogin(EMAIL, pin, start.totp_secret, created=True)
    write_secret_file(path, json.dumps({"identifier": EMAIL, "pin": pin,
                                        "totp_secret": start.totp_secret}).encode())
    return login
