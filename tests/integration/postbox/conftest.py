"""Helpers for the service tests: an org, an activated recipient, TOTP codes at the clock."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from crypto.totp import code_at
from postbox import activation, orgs, recipients
from postbox.bootstrap import Postbox
from postbox.clock import FrozenClock

PIN = "482917"


@dataclass
class Person:
    recipient_id: str
    external_id: str
    email: str
    totp_secret: str
    recovery_code: str
    clock: FrozenClock

    def otp(self, offset_steps: int = 0) -> str:
        """A fresh code: moves the clock one step on so codes are never replays."""
        self.clock.advance(seconds=30)
        return code_at(self.totp_secret, self.clock.now().timestamp() + 30 * offset_steps)


def activate_person(pb: Postbox, clock: FrozenClock, org: str, external_id: str,
                    email: str, pin: str = PIN) -> Person:
    inv = recipients.invite_recipient(pb, org, external_id, email)
    assert inv.activation_code is not None
    start = activation.begin_activation(pb, inv.activation_code)
    done = activation.activate(pb, inv.activation_code, pin, pin,
                               code_at(start.totp_secret, clock.now().timestamp()))
    return Person(done.recipient_id, external_id, email, start.totp_secret, done.recovery_code,
                  clock)


@pytest.fixture
def org(pb: Postbox) -> str:
    return orgs.create_org(pb, "Acme Bank", "acme").slug


@pytest.fixture
def alice(pb: Postbox, clock: FrozenClock, org: str) -> Person:
    return activate_person(pb, clock, org, "CUST-1", "alice@example.org")


@pytest.fixture
def bob(pb: Postbox, clock: FrozenClock, org: str) -> Person:
    return activate_person(pb, clock, org, "CUST-2", "bob@example.org")
