"""/api/v1/policies and /api/v1/print-queue: roles, problem details, the OpenAPI fragment."""
from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from pypdf import PdfReader

from postbox import delivery, orgs
from tests.fixtures.postbox import pdf_bytes
from web import create_app
from web.api_policies import bp

from .conftest import STANDARD, invite

LETTER = pdf_bytes("Dear customer")


@pytest.fixture
def app(pb) -> Flask:  # type: ignore[no-untyped-def]
    return create_app(pb, {"TESTING": True})


def _auth(pb, org: str, role: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {orgs.create_token(pb, org, role)}"}


def _problem(response, status: int, kind: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == f"urn:postbox:problem:{kind}"


def test_policies_roles_and_errors(pb, org, app) -> None:
    client = app.test_client()
    sender, compliance = _auth(pb, org, "sender"), _auth(pb, org, "compliance")
    _problem(client.get("/api/v1/policies"), 401, "unauthorized")
    put = client.put("/api/v1/policies/default", headers=sender, json={"steps": STANDARD})
    assert put.status_code == 200 and put.get_json() == {"name": "default", "steps": STANDARD}
    _problem(client.put("/api/v1/policies/default", headers=compliance,
                        json={"steps": STANDARD}), 403, "forbidden")
    listed = client.get("/api/v1/policies", headers=compliance).get_json()
    assert [p["name"] for p in listed["items"]] == ["default"]
    _problem(client.put("/api/v1/policies/x", headers=sender,
                        json={"steps": [{"day": 0, "kind": "print"}]}), 400, "invalid-input")
    _problem(client.put("/api/v1/policies/x", headers=sender, data="nope"), 400,
             "malformed-request")
    _problem(client.put("/api/v1/policies/x", headers=sender, json={}), 400, "invalid-input")
    _problem(client.put("/api/v1/policies/Bad%20Name", headers=sender,
                        json={"steps": STANDARD}), 400, "invalid-input")
    _problem(client.get("/api/v1/policies/missing", headers=sender), 404, "not-found")
    assert client.delete("/api/v1/policies/default", headers=sender).status_code == 204
    _problem(client.delete("/api/v1/policies/default", headers=sender), 404, "not-found")


def test_dry_run_and_document_policy(pb, org, app) -> None:
    client = app.test_client()
    sender, compliance = _auth(pb, org, "sender"), _auth(pb, org, "compliance")
    client.put("/api/v1/policies/default", headers=sender, json={"steps": STANDARD})
    invite(pb, org, "C-1", "alice@example.org")
    run = client.post("/api/v1/policies/dry-run", headers=compliance,
                      json={"recipients": ["C-1", "NOBODY"]})
    assert run.status_code == 200
    body = run.get_json()
    assert (body["items"], body["unreachable"]) == (2, 1)
    assert [s["reach"] for s in body["steps"]] == [1, 1, 1, 1]
    for bad in ({}, {"recipients": "C-1"}, {"recipients": [1]}, {"batch": "x", "recipients": []},
                {"recipients": ["C-1"], "steps": [{"day": 1}]}):
        _problem(client.post("/api/v1/policies/dry-run", headers=sender, json=bad), 400,
                 "invalid-input")
    _problem(client.post("/api/v1/policies/dry-run", headers=sender, json={"batch": "0" * 32}),
             404, "not-found")
    doc = delivery.deliver(pb, org, "C-1", io.BytesIO(LETTER), "Hello", "hello.pdf").document_id
    got = client.get(f"/api/v1/policies/documents/{doc}", headers=compliance).get_json()
    assert got["policy"] == "default" and got["state"] == "active" and got["next_step"] == 1
    put = client.put(f"/api/v1/policies/documents/{doc}", headers=sender,
                     json={"steps": [{"day": 2, "kind": "print"}]})
    assert put.status_code == 200 and put.get_json()["policy"] == "document"
    _problem(client.put(f"/api/v1/policies/documents/{doc}", headers=sender,
                        json={"policy": "default", "steps": STANDARD}), 400, "invalid-input")
    _problem(client.put(f"/api/v1/policies/documents/{'0' * 32}", headers=sender,
                        json={"policy": "default"}), 404, "not-found")


def test_print_queue_over_the_api(pb, clock, org, app, smtp_worker) -> None:
    client = app.test_client()
    sender, compliance = _auth(pb, org, "sender"), _auth(pb, org, "compliance")
    client.put("/api/v1/policies/default", headers=sender,
               json={"steps": [{"day": 2, "kind": "print"}]})
    invite(pb, org, "C-1", "alice@example.org")
    doc = delivery.deliver(pb, org, "C-1", io.BytesIO(LETTER), "Hello", "hello.pdf",
                           idempotency_key="hello-1").document_id
    smtp_worker.drain()
    clock.advance(days=2)
    smtp_worker.drain()
    [entry] = client.get("/api/v1/print-queue", headers=compliance).get_json()["items"]
    assert entry["document_id"] == doc and entry["printable"] is True
    url = f"/api/v1/print-queue/{entry['id']}"
    pdf = client.post(f"{url}/pdf", headers=sender, content_type="multipart/form-data",
                      data={"file": (io.BytesIO(LETTER), "hello.pdf"), "subject": "Hello",
                            "postal_address": "Alice\nStreet 1"})
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "Alice" in PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text()
    _problem(client.post(f"{url}/pdf", headers=sender, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(pdf_bytes("x")), "hello.pdf"),
                               "subject": "Hello"}), 409, "conflict")
    _problem(client.post(f"{url}/pdf", headers=sender, content_type="multipart/form-data",
                         data={"subject": "Hello"}), 400, "invalid-input")
    _problem(client.post(f"{url}/pdf", headers=sender, json={}), 400, "malformed-request")
    _problem(client.post(f"{url}/printed", headers=compliance, json={"by": "x"}), 403,
             "forbidden")
    _problem(client.post(f"{url}/printed", headers=sender, json={"by": "x", "sha256": "zz"}),
             400, "invalid-input")
    done = client.post(f"{url}/printed", headers=sender, json={"by": "clerk"})
    assert done.status_code == 200 and done.get_json()["state"] == "printed"
    _problem(client.post(f"{url}/dismiss", headers=sender, json={"by": "clerk", "reason": "r"}),
             409, "conflict")
    assert client.get("/api/v1/print-queue?state=printed",
                      headers=sender).get_json()["items"][0]["id"] == entry["id"]
    _problem(client.get("/api/v1/print-queue?state=bogus", headers=sender), 400,
             "invalid-input")
    _problem(client.get("/api/v1/print-queue?limit=x", headers=sender), 400, "invalid-input")
    _problem(client.get(f"/api/v1/print-queue/{'0' * 32}", headers=sender), 404, "not-found")


def test_openapi_fragment_documents_every_route(app) -> None:
    documented = {path: {m for m in item if m != "parameters"}
                  for path, item in bp.openapi_paths.items()}
    served: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api_policies."):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)[len("/api/v1"):]
            served.setdefault(path, set()).update(
                m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    assert served == documented
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    assert "/policies/dry-run" in spec["paths"] and "PrintQueueEntry" in \
        spec["components"]["schemas"]
