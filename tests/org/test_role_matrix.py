"""Every console route against every role, built from the app's URL map.

The expected matrix is written out here, independently of the code: a route the matrix does
not know fails the test (so every new route must be classified), any 2xx for a role the
matrix does not allow fails it, an anonymous visitor is sent to the login page, and an allowed
role never meets 401/403 (and gets 200 on the pages that exist for the sample data).
"""
from __future__ import annotations

import io
import re

import pytest
from flask import Flask

from postbox import batches, cases, delivery, orgs, print_queue, recipients, staff
from postbox.models import Document
from tests.fixtures.postbox import pdf_bytes
from tests.org.helpers import csrf_token, login

PUBLIC = "public"
EVERYONE = frozenset({"admin", "sender", "compliance"})
SENDING = frozenset({"admin", "sender"})
COMPLIANCE = frozenset({"compliance"})
ADMIN = frozenset({"admin"})
EXPECTED: dict[str, str | frozenset[str]] = {
    "org.home": PUBLIC, "org.login": PUBLIC, "org.logout": PUBLIC, "org.join": PUBLIC,
    "org.dashboard": EVERYONE, "org.bounces": EVERYONE,
    "org.batch_list": EVERYONE, "org.batch": EVERYONE, "org.batch_report": EVERYONE,
    "org.batch_print": SENDING,
    "org.hold_list": SENDING, "org.hold_key": SENDING, "org.hold_key_forget": SENDING,
    "org.hold_confirm": SENDING, "org.hold_act": SENDING,
    "org.compliance_search": COMPLIANCE, "org.compliance_document": COMPLIANCE,
    "org.compliance_bundle": COMPLIANCE, "org.compliance_certificate": COMPLIANCE,
    "org.compliance_export": COMPLIANCE, "org.compliance_log": COMPLIANCE,
    "org.settings_page": ADMIN, "org.settings_notices": ADMIN, "org.settings_retention": ADMIN,
    "org.settings_tokens": ADMIN, "org.settings_token_revoke": ADMIN,
    "org.settings_staff": ADMIN, "org.settings_staff_remove": ADMIN,
    "org.settings_invite_revoke": ADMIN,
    "org.settings_webhooks": ADMIN, "org.settings_webhook_delete": ADMIN,
    "org.settings_webhook_enable": ADMIN,
    "org.print_list": SENDING, "org.print_download": SENDING, "org.print_done": SENDING,
    "org.print_dismiss_confirm": SENDING, "org.print_dismiss": SENDING,
}


def test_role_table() -> None:
    assert staff.may("admin", "settings") and not staff.may("sender", "settings")
    assert staff.may("compliance", "compliance") and not staff.may("admin", "compliance")
    assert staff.may("sender", "holds") and not staff.may("compliance", "holds")
    assert all(staff.may(role, "overview") for role in EVERYONE)
    assert not staff.may("admin", "no-such-area") and not staff.may("root", "overview")


def _sample(pb, org: str) -> dict[str, str]:
    """Real objects for the URL parameters, so allowed roles see real pages."""
    recipients.invite_recipient(pb, org, "CUST-1", "cust1@example.org")
    doc = delivery.deliver(pb, org, "CUST-1", io.BytesIO(pdf_bytes("hello")), "Hello",
                           "hello.pdf", case="CASE-1")
    cases.hold(pb, org, "CASE-1", "test")
    batch = batches.create_batch(pb, orgs.get_org(pb, org).id, reference="Sample batch")
    with pb.uow() as uow:  # a print queue entry, as the escalation's print step makes one
        print_queue.enqueue(uow.session, pb.keys, uow.session.get(Document, doc.document_id),
                            14, pb.clock.now())
        uow.commit()
    entry = print_queue.list_entries(pb, org)[0].id
    return {"batch_id": batch.id, "document_id": doc.document_id, "seq": "1", "entry": entry,
            "token_id": "0" * 32, "staff_id": "0" * 32, "invite_id": "0" * 32,
            "endpoint_id": "0" * 32, "action": "release"}


def _requests(app: Flask, params: dict[str, str]) -> list[tuple[str, str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("org."):
            continue
        assert rule.endpoint in EXPECTED, f"unclassified console route {rule.rule}"
        path = rule.rule
        for name in rule.arguments:
            path = re.sub(rf"<(?:\w+:)?{name}>", params[name], path)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            query = {"org.hold_confirm": "?case=CASE-1",
                     "org.print_dismiss_confirm": f"?entry={params['entry']}"}
            found.append((rule.endpoint, method, path + query.get(rule.endpoint, "")))
    # Logging out ends the session the rest of the walk needs: do it last.
    return sorted(found, key=lambda r: (r[0] == "org.logout", r))


def _call(client, method: str, path: str, token: str):
    response = (client.get(path) if method == "GET"
                else client.post(path, data={"csrf_token": token}))
    response.close()  # streamed downloads: stop the generator; status and headers stay
    return response


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_role_against_every_route(app, pb, org, admin, sender, officer) -> None:
    requests = _requests(app, _sample(pb, org))
    assert {endpoint for endpoint, _, _ in requests} == set(EXPECTED)
    seen: dict[str, dict[tuple[str, str], int]] = {}
    for person in (None, admin, sender, officer):
        client = app.test_client()
        role = "anonymous"
        token = csrf_token(client)
        if person is not None:
            role = person.role
            assert login(client, person).status_code == 302
            token = csrf_token(client, "/org/dashboard")
        for endpoint, method, path in requests:
            response = _call(client, method, path, token)
            status = response.status_code
            seen.setdefault(role, {})[(method, path)] = status
            allowed = EXPECTED[endpoint]
            where = f"{role} {method} {path} -> {status}"
            if allowed == PUBLIC:
                assert status < 500, where
                continue
            if person is None:
                assert status == 302 and "/org/login" in response.headers["Location"], where
            elif person.role not in allowed:
                assert status == 403, where  # never 2xx, and no detour either
            else:
                assert status not in (401, 403) and status < 500 or status == 503, where
                if method == "GET" and endpoint not in (
                        "org.compliance_export", "org.compliance_bundle",
                        "org.compliance_certificate"):
                    assert 200 <= status < 300, where
    unexpected = [(role, request, status) for role, results in seen.items()
                  for request, status in results.items() if 200 <= status < 300
                  and role not in ("admin", "sender", "compliance")
                  and not any(request[1].startswith(p) for p in ("/org/login", "/org/join"))]
    assert not unexpected, unexpected
