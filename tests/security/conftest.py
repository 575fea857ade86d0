"""Fixtures of the ASVS suite: an organisation and activated recipients with known secrets, and
a counter of Argon2id derivations (the work a login costs, observable without timing)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from postbox import orgs
from postbox.bootstrap import Postbox
from postbox.clock import FrozenClock
from tests.integration.postbox.conftest import Person, activate_person

# 11 digits: long enough that no random id or timestamp contains it by chance.
PIN = "58203946175"


@pytest.fixture
def org(pb: Postbox) -> str:
    return orgs.create_org(pb, "Acme Bank", "acme").slug


@pytest.fixture
def alice(pb: Postbox, clock: FrozenClock, org: str) -> Person:
    return activate_person(pb, clock, org, "CUST-1", "alice@example.org", PIN)


@pytest.fixture
def bob(pb: Postbox, clock: FrozenClock, org: str) -> Person:
    return activate_person(pb, clock, org, "CUST-2", "bob@example.org", PIN)


@dataclass
class Derivations:
    count: int = 0


@pytest.fixture
def derivations(pb: Postbox) -> Iterator[Derivations]:
    """Counts pb.keys.kek calls (each one Argon2id derivation)."""
    seen = Derivations()
    real = pb.keys.kek

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.count += 1
        return real(*args, **kwargs)

    pb.keys.kek = counting  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        pb.keys.kek = real  # type: ignore[method-assign]
