"""Delegation fixtures: an organisation, an owner and a delegate, each able to unlock a vault."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from postbox import auth, orgs
from postbox.auth import Vault
from postbox.bootstrap import Postbox
from postbox.clock import FrozenClock
from tests.fixtures.postbox import PIN, Person, activate_person


@dataclass
class Unlocked:
    person: Person
    token: str

    def vault(self, pb: Postbox) -> Vault:
        return auth.unlock(pb, self.token)


def unlocked(pb: Postbox, person: Person) -> Unlocked:
    return Unlocked(person, auth.authenticate(pb, person.email, PIN, person.otp()).token)


@pytest.fixture
def org(pb: Postbox) -> str:
    return orgs.create_org(pb, "Acme Bank", "acme").slug


@pytest.fixture
def owner(pb: Postbox, clock: FrozenClock, org: str) -> Unlocked:
    return unlocked(pb, activate_person(pb, clock, org, "CUST-1", "olga@example.org"))


@pytest.fixture
def delegate(pb: Postbox, clock: FrozenClock, org: str) -> Unlocked:
    return unlocked(pb, activate_person(pb, clock, org, "CUST-2", "dan@example.org"))
