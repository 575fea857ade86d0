"""OWASP ASVS 5.0 V8 (authorization) through the real Flask app: the portal (recipients), the
sender API (bearer tokens per role) and the organisation console (staff roles).

One test per requirement, named by id. Routes are taken from the app's URL map, so a new route
that takes an object id or needs a role is covered (or fails the test) without editing it here.
Related: tests/org/test_role_matrix.py (the console matrix this suite reuses),
tests/web/test_security.py and tests/api/test_errors.py (the same rules, by feature).
"""
from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from postbox import auth, batches, delegation, delivery, orgs, recipients
from postbox.bootstrap import Postbox
from postbox.models import Case, DelegationGrant, Document
from tests.fixtures.postbox import pdf_bytes
from tests.integration.postbox.conftest import Person, activate_person
from tests.org import test_role_matrix as console
from tests.org.helpers import csrf_token as console_csrf
from tests.org.helpers import login as console_login
from tests.org.helpers import make_staff
from tests.web.helpers import post, send
from web import create_app

from .conftest import PIN

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
HEX = "0" * 32

# The API's role table, written out independently of the decorators in web/api*.py.
SEND = frozenset({"sender", "admin"})
READ = frozenset({"sender", "compliance", "admin"})
ADMIN = frozenset({"admin"})
COMPLIANCE = frozenset({"compliance"})
PUBLIC = "public"
API_ROLES: dict[str, str | frozenset[str]] = {
    "api.create": SEND, "api.add_items": SEND, "api.close": SEND, "api.cancel": SEND,
    "api.print_item": SEND, "api.status": READ, "api.items": READ, "api.report": READ,
    "api.deliver": SEND, "api.document": READ,
    "api.invite": SEND, "api.reachability": SEND, "api.reachability_many": SEND,
    "api.replies_list": READ, "api.reply_content": SEND, "api.ack_replies": SEND,
    "api.held_cases": READ, "api.case_hold": SEND, "api.case_release": SEND,
    "api.case_cancel": SEND,
    "api.list_tokens": ADMIN, "api.create_token": ADMIN, "api.revoke_token": ADMIN,
    "api_webhooks.list_endpoints": SEND, "api_webhooks.create_endpoint": SEND,
    "api_webhooks.get_endpoint": SEND, "api_webhooks.delete_endpoint": SEND,
    "api_webhooks.enable_endpoint": SEND, "api_webhooks.rotate_secret": SEND,
    "log_api.post_export": COMPLIANCE,
    # Landed during issue 11 (delegation, policies, print queue): reading is for every role,
    # changing for senders and admins; the owners should confirm these rows.
    "api_delegation.get_delegation": READ,
    "api_policies.list_policies": READ, "api_policies.get_policy": READ,
    "api_policies.put_policy": SEND, "api_policies.delete_policy": SEND,
    "api_policies.get_document_policy": READ, "api_policies.put_document_policy": SEND,
    "api_policies.dry_run": READ, "api_policies.list_print_queue": READ,
    "api_policies.get_print_entry": READ, "api_policies.mark_printed": SEND,
    "api_policies.dismiss": SEND, "api_policies.pdf": SEND,
    # Public by design: the signed log is verifiable by anyone (docs/evidence.md).
    "api.openapi_document": PUBLIC, "log_api.get_checkpoint": PUBLIC,
    "log_api.get_trust": PUBLIC, "log_api.get_inclusion": PUBLIC,
    "log_api.get_consistency": PUBLIC, "log_api.post_cosignature": PUBLIC,
}


@pytest.fixture
def app(pb: Postbox) -> Iterator[Flask]:
    yield create_app(pb, {"TESTING": True, "ORG_LOGIN_LIMIT": "1000 per minute",
                          "API_RATE_LIMIT": "100000 per minute",
                          "API_AUTH_FAILURE_LIMIT": "100000 per minute"})


def _portal_login(app: Flask, person: Person) -> FlaskClient:
    client = app.test_client()
    response = post(client, "/login", {"identifier": person.email, "pin": PIN,
                                       "otp": person.otp()})
    assert response.status_code == 302
    return client


def _fill(rule: str, params: dict[str, str]) -> str:
    path = rule
    for name, value in params.items():
        path = re.sub(rf"<(?:[\w()=0-9]+:)?{name}>", value, path)
    assert "<" not in path, f"no sample value for {rule}"
    return path


def _api(app: Flask, method: str, path: str, token: str | None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = app.test_client().open(path, method=method, headers=headers)
    response.close()
    return response


def _document_state(pb: Postbox, document_id: str) -> tuple[object, ...]:
    with pb.uow() as uow:
        doc = uow.session.get(Document, document_id)
        assert doc is not None
        return (doc.status, doc.first_read_at, doc.archived_at, doc.deleted_at)


# -- V8.2 ---------------------------------------------------------------------------------------

def test_asvs_8_2_1_function_level_access_by_role(app, pb, org, clock) -> None:
    """Every API route and every console route admits exactly the roles it is meant for: any
    other role gets 403 (never 2xx), no token gets 401, and an allowed role is never refused.
    The tables are written out here; a route missing from them fails the test."""
    tokens = {role: orgs.create_token(pb, org, role) for role in ("sender", "compliance",
                                                                  "admin")}
    params = {"batch_id": HEX, "document_id": HEX, "reply_id": HEX, "token_id": HEX,
              "endpoint_id": HEX, "seq": "1", "reference": "CASE-1", "external_id": "C-1",
              "name": "default", "entry_id": HEX}
    seen = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        assert rule.endpoint in API_ROLES, f"unclassified API route {rule.rule}"
        seen.add(rule.endpoint)
        allowed = API_ROLES[rule.endpoint]
        path = _fill(rule.rule, params)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            where = f"{method} {path}"
            if allowed == PUBLIC:
                assert _api(app, method, path, None).status_code < 500, where
                continue
            assert _api(app, method, path, None).status_code == 401, where
            assert _api(app, method, path, "pbx_" + "x" * 40).status_code == 401, where
            for role, token in tokens.items():
                status = _api(app, method, path, token).status_code
                if role in allowed:
                    assert status not in (401, 403) and status < 500, f"{role} {where} {status}"
                else:
                    assert status == 403, f"{role} {where} -> {status}"
    assert seen == set(API_ROLES)

    # The console: the independent matrix of tests/org/test_role_matrix.py, walked here too.
    staff = {role: make_staff(pb, clock, org, f"{role}@acme.example", role)
             for role in ("admin", "sender", "compliance")}
    requests = console._requests(app, console._sample(pb, org))
    for role, person in staff.items():
        client = app.test_client()
        assert console_login(client, person).status_code == 302
        token = console_csrf(client, "/org/dashboard")
        for endpoint, method, path in requests:
            allowed = console.EXPECTED[endpoint]
            if allowed == console.PUBLIC:
                continue
            status = console._call(client, method, path, token).status_code
            if role in allowed:
                assert status not in (401, 403) and (status < 500 or status == 503), \
                    f"{role} {method} {path} -> {status}"
            else:
                assert status == 403, f"{role} {method} {path} -> {status}"


def test_asvs_8_2_2_no_access_to_another_recipients_documents(app, pb, clock, org, alice,
                                                              bob) -> None:
    """Bob, signed in, reaches none of Alice's objects (documents, cases, delegation grants)
    through any portal route that takes an id (read, content, download, reply, archive,
    delete, restore, revoke, accept, ...): each answers 404 exactly like an id that does not
    exist, shows none of her content, and changes nothing. A portal route taking an id of a
    kind this test does not know fails it."""
    doc, _ = send(pb, org, alice, "Alice only", text="ALICE-PRIVATE-TEXT", case="CASE-A")
    with pb.uow() as uow:
        case_id = uow.session.scalar(select(Document.case_id).where(Document.id == doc))
    assert case_id
    carol = activate_person(pb, clock, org, "CUST-3", "carol@example.org", PIN)
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    grant_id = delegation.grant(pb, vault, carol.email, "2027-01-31").id
    samples = {"document_id": doc, "case_id": case_id, "grant_id": grant_id,
               "owner_id": alice.recipient_id}
    before = (_document_state(pb, doc), _grant_state(pb, grant_id))
    client = _portal_login(app, bob)
    token = csrf_token_of(client)
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("portal.") or not rule.arguments:
            continue
        unknown = set(rule.arguments) - set(samples)
        assert not unknown, f"{rule.rule}: no sample of Alice's for {unknown}"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            answers = []
            for values in (samples, dict.fromkeys(samples, HEX)):
                path = _fill(rule.rule, {k: values[k] for k in rule.arguments})
                response = (client.get(path) if method == "GET" else
                            client.post(path, data={"csrf_token": token}))
                answers.append(response)
            theirs, missing = answers
            assert theirs.status_code == 404 == missing.status_code, \
                f"{method} {rule.rule} -> {theirs.status_code}"
            body = theirs.get_data()
            assert b"ALICE-PRIVATE-TEXT" not in body and b"Alice only" not in body
            assert alice.email.encode() not in body
            checked += 1
    assert checked >= 10, checked  # message, content, reply x2, archive, ..., case, grants
    assert (_document_state(pb, doc), _grant_state(pb, grant_id)) == before
    # Alice herself still reads it: the refusals were about Bob, not a broken document.
    own = _portal_login(app, alice)
    assert own.get(f"/messages/{doc}").status_code == 200


def _grant_state(pb: Postbox, grant_id: str) -> tuple[object, ...]:
    with pb.uow() as uow:
        row = uow.session.get(DelegationGrant, grant_id)
        assert row is not None
        return (row.state, row.accepted_at, row.ended_at)


def csrf_token_of(client: FlaskClient) -> str:
    page = client.get("/inbox").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


# -- V8.4 ---------------------------------------------------------------------------------------

def test_asvs_8_4_1_no_cross_tenant_access(app, pb, org, clock) -> None:
    """Organisations are tenants: another organisation's token and staff reach none of this
    organisation's documents, batches, reports, cases or recipients, with answers that are
    the same as for ids that do not exist; the same customer number in two organisations is
    two different recipients."""
    orgs.create_org(pb, "Other Org", "other")
    recipients.invite_recipient(pb, org, "C-1", "c1@example.org")
    doc = delivery.deliver(pb, org, "C-1", io.BytesIO(pdf_bytes("ACME-SECRET")), "Acme letter",
                           "a.pdf", case="CASE-1").document_id
    batch = batches.create_batch(pb, orgs.get_org(pb, org).id, reference="acme run").id
    intruder = orgs.create_token(pb, "other", "admin")
    officer = orgs.create_token(pb, "other", "compliance")
    for path in (f"/api/v1/documents/{doc}", f"/api/v1/batches/{batch}",
                 f"/api/v1/batches/{batch}/items", f"/api/v1/batches/{batch}/report.csv"):
        mine, missing = (_api(app, "GET", p, intruder) for p in (path, path.replace(
            doc, HEX).replace(batch, HEX)))
        assert mine.status_code == missing.status_code == 404, path
        assert mine.get_json()["type"] == missing.get_json()["type"]
    for path in (f"/api/v1/batches/{batch}/close", f"/api/v1/batches/{batch}/cancel"):
        assert _api(app, "POST", path, intruder).status_code == 404, path
    # Holding "CASE-1" as the other organisation touches only its own case of that name.
    api = app.test_client()
    api.post("/api/v1/cases/CASE-1/hold", json={},
             headers={"Authorization": f"Bearer {intruder}"})
    with pb.uow() as uow:
        acme_case = uow.session.scalar(select(Case.state).where(
            Case.org_id == orgs.get_org(pb, org).id, Case.reference == "CASE-1"))
    assert acme_case == "open"
    held = app.test_client().get("/api/v1/cases/held",
                                 headers={"Authorization": f"Bearer {intruder}"})
    assert "CASE-1" not in held.get_data(as_text=True)
    reach = app.test_client().get("/api/v1/recipients/C-1/reachability",
                                  headers={"Authorization": f"Bearer {intruder}"})
    assert reach.get_json()["reachability"] == "unknown"
    export = app.test_client().post("/api/v1/proofs/export", json={"document_id": doc},
                                    headers={"Authorization": f"Bearer {officer}"})
    assert export.status_code == 404, export.status_code
    # The same customer number in the other organisation is someone else entirely.
    recipients.invite_recipient(pb, "other", "C-1", "someone@example.org")
    with pb.uow() as uow:
        owners = set(uow.session.scalars(select(Document.recipient_id)))
    assert len(owners) == 1
    # Console staff of the other organisation: the compliance pages of this one's document.
    cora = make_staff(pb, clock, "other", "cora@other.example", "compliance")
    client = app.test_client()
    assert console_login(client, cora).status_code == 302
    for path in (f"/org/compliance/documents/{doc}",
                 f"/org/compliance/documents/{doc}/bundle.zip",
                 f"/org/compliance/documents/{doc}/certificate.pdf"):
        response = client.get(path)
        response.close()
        assert response.status_code == 404, path
    assert "Acme letter" not in client.get("/org/compliance?q=C-1").get_data(as_text=True)
    ada = make_staff(pb, clock, "other", "ada@other.example", "admin")
    client = app.test_client()
    assert console_login(client, ada).status_code == 302
    response = client.get(f"/org/batches/{batch}")
    assert response.status_code == 404 and "acme run" not in response.get_data(as_text=True)
