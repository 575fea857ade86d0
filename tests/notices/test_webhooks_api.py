"""/api/v1/webhooks: bearer tokens, problem details, and an OpenAPI fragment that matches."""
from __future__ import annotations

import re

import pytest
from flask import Flask

from postbox import orgs, webhooks
from web import create_app
from web.api_webhooks import bp, register_webhooks_api


@pytest.fixture
def app(pb, allow_private) -> Flask:  # type: ignore[no-untyped-def]
    app = create_app(pb, {"TESTING": True})
    if "api_webhooks" not in app.blueprints:  # until the app factory mounts it itself
        register_webhooks_api(app, pb)
    return app


@pytest.fixture
def token(pb, org) -> str:  # type: ignore[no-untyped-def]
    return orgs.create_token(pb, org, "sender")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_register_list_enable_rotate_delete(app, token, receiver) -> None:
    client = app.test_client()
    created = client.post("/api/v1/webhooks", headers=_auth(token),
                          json={"url": receiver.url, "events": ["notified", "consigned"]})
    assert created.status_code == 201
    body = created.get_json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["consigned", "notified"]
    assert created.headers["Location"] == f"/api/v1/webhooks/{body['id']}"
    listed = client.get("/api/v1/webhooks", headers=_auth(token)).get_json()
    assert [e["id"] for e in listed["items"]] == [body["id"]]
    assert "secret" not in listed["items"][0] and "retrieved" in listed["event_types"]
    one = client.get(f"/api/v1/webhooks/{body['id']}", headers=_auth(token)).get_json()
    assert one["enabled"] is True and one["failure_count"] == 0
    assert client.post(f"/api/v1/webhooks/{body['id']}/enable",
                       headers=_auth(token)).status_code == 200
    rotated = client.post(f"/api/v1/webhooks/{body['id']}/rotate-secret", headers=_auth(token))
    assert rotated.get_json()["secret"] not in (body["secret"], None)
    assert client.delete(f"/api/v1/webhooks/{body['id']}",
                         headers=_auth(token)).status_code == 204
    missing = client.get(f"/api/v1/webhooks/{body['id']}", headers=_auth(token))
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"


def test_problems(app, pb, org, token) -> None:
    client = app.test_client()
    nobody = client.get("/api/v1/webhooks")
    assert nobody.status_code == 401 and nobody.get_json()["type"] == \
        "urn:postbox:problem:unauthorized"
    assert "Bearer" in nobody.headers["WWW-Authenticate"]
    compliance = orgs.create_token(pb, org, "compliance")
    assert client.get("/api/v1/webhooks", headers=_auth(compliance)).status_code == 403
    bad = client.post("/api/v1/webhooks", headers=_auth(token),
                      json={"url": "https://hooks.example.org/x", "events": ["nonsense"]})
    assert bad.status_code == 400 and bad.get_json()["type"] == \
        "urn:postbox:problem:invalid-input"
    assert client.post("/api/v1/webhooks", headers=_auth(token), data="x",
                       content_type="text/plain").status_code == 400
    # Another organisation's endpoint does not exist for this token.
    other = orgs.create_org(pb, "Other Org", "other").slug
    foreign, _ = webhooks.create_endpoint(pb, other, "https://hooks.example.org/o",
                                          ["consigned"])
    assert client.get(f"/api/v1/webhooks/{foreign.id}",
                      headers=_auth(token)).status_code == 404


def test_openapi_fragment_documents_every_route(app) -> None:
    documented = {path: {m for m in item if m != "parameters"}
                  for path, item in bp.openapi_paths.items()}
    served: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api_webhooks."):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)[len("/api/v1"):]
            served.setdefault(path, set()).update(
                m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    assert served == documented
