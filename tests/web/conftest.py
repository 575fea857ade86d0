"""Portal fixtures: the app around the ``pb`` fixture, a test client, people with post."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from postbox import orgs
from postbox.bootstrap import Postbox
from postbox.clock import FrozenClock
from tests.web.helpers import Person, activate_person
from web import create_app


@pytest.fixture
def app(pb: Postbox) -> Iterator[Flask]:
    yield create_app(pb, {"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def org(pb: Postbox) -> str:
    return orgs.create_org(pb, "Acme Bank", "acme").slug


@pytest.fixture
def alice(pb: Postbox, clock: FrozenClock, org: str) -> Person:
    return activate_person(pb, clock, org, "CUST-1", "alice@example.org")


@pytest.fixture
def bob(pb: Postbox, clock: FrozenClock, org: str) -> Person:
    return activate_person(pb, clock, org, "CUST-2", "bob@example.org")
