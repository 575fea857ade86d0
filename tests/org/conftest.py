"""Console fixtures: the app around ``pb``, a client, an organisation and one person per role."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from postbox import orgs
from postbox.bootstrap import Postbox
from postbox.clock import FrozenClock
from tests.org.helpers import StaffPerson, make_staff
from web import create_app


@pytest.fixture
def app(pb: Postbox) -> Iterator[Flask]:
    yield create_app(pb, {"TESTING": True, "ORG_LOGIN_LIMIT": "1000 per minute"})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def org(pb: Postbox) -> str:
    return orgs.create_org(pb, "Acme Bank", "acme").slug


@pytest.fixture
def admin(pb: Postbox, clock: FrozenClock, org: str) -> StaffPerson:
    return make_staff(pb, clock, org, "ada@acme.example", "admin")


@pytest.fixture
def sender(pb: Postbox, clock: FrozenClock, org: str) -> StaffPerson:
    return make_staff(pb, clock, org, "sam@acme.example", "sender")


@pytest.fixture
def officer(pb: Postbox, clock: FrozenClock, org: str) -> StaffPerson:
    return make_staff(pb, clock, org, "cora@acme.example", "compliance")
