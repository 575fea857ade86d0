"""Helpers for the service tests: an org, an activated recipient, TOTP codes at the clock."""
from __future__ import annotations

import pytest

from postbox import orgs
from postbox.bootstrap import Postbox
from postbox.clock import FrozenClock
from tests.fixtures.postbox import PIN, Person, activate_person  # noqa: F401  (re-exported)


@pytest.fixture
def org(pb: Postbox) -> str:
    return orgs.create_org(pb, "Acme Bank", "acme").slug


@pytest.fixture
def alice(pb: Postbox, clock: FrozenClock, org: str) -> Person:
    return activate_person(pb, clock, org, "CUST-1", "alice@example.org")


@pytest.fixture
def bob(pb: Postbox, clock: FrozenClock, org: str) -> Person:
    return activate_person(pb, clock, org, "CUST-2", "bob@example.org")
