"""The organisation's read-only view: API and CLI answer whether a recipient has an active
delegate covering that organisation's post — and offer no control."""
from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from cli.main import main
from postbox import delegation, orgs
from tests.fixtures.postbox import CHEAP_ENV
from web import create_app

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_api_and_cli_say_yes_only_while_a_grant_is_active(pb, clock, settings, db_url, org,
                                                         owner, delegate) -> None:
    client = create_app(pb, {"TESTING": True}).test_client()
    sender = {"Authorization": f"Bearer {orgs.create_token(pb, org, 'sender')}"}
    env = {"POSTBOX_HOME": str(settings.home), "POSTBOX_DATABASE_URL": db_url,
           "POSTBOX_MASTER_KEY": settings.master_key_hex, **CHEAP_ENV}

    def api() -> dict:
        got = client.get("/api/v1/recipients/CUST-1/delegation", headers=sender)
        assert got.status_code == 200, got.data
        return got.get_json()

    def cli(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(main, ["delegation", "status", *args], env=env)
        assert result.exit_code == code, result.output
        return result.output.strip().splitlines()[-1]

    assert api() == {"recipient": "CUST-1", "active_delegate": False}
    assert cli("--org", org, "CUST-1") == "no"
    grant = delegation.grant(pb, owner.vault(pb), "dan@example.org",
                             (clock.now() + timedelta(days=30)).date())
    assert api()["active_delegate"] is False  # offered, not accepted
    delegation.accept(pb, delegate.vault(pb), grant.id)
    assert api()["active_delegate"] is True
    assert cli("--org", org, "CUST-1") == "yes"
    delegation.revoke(pb, owner.vault(pb), grant.id)
    assert api()["active_delegate"] is False

    # Bad input is a clear problem / one-line error; no control endpoints exist.
    unknown = client.get("/api/v1/recipients/NOPE/delegation", headers=sender)
    assert unknown.status_code == 404 and unknown.mimetype == "application/problem+json"
    assert client.get("/api/v1/recipients/CUST-1/delegation").status_code == 401
    assert client.post("/api/v1/recipients/CUST-1/delegation",
                       headers=sender).status_code == 405
    assert "no recipient" in cli("--org", org, "NOPE", code=1)
    spec = client.get("/api/v1/openapi.json", headers=sender).get_json()
    assert set(spec["paths"]["/recipients/{external_id}/delegation"]) == {"parameters", "get"}
