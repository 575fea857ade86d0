"""OWASP ASVS 5.0 V3.4 (browser security headers) on every route, and V16 (security logging
and error handling) at the web edge, through the real Flask app.

"Every route" is taken from the app's URL map: each GET route as a stranger, as a signed-in
recipient, as signed-in staff and with an API token, plus the error answers (404, 405, CSRF
400, an unexpected 500) and the document content itself. A new route is covered without
editing this file. Related: tests/web/test_security.py and tests/org/test_access_web.py.
"""
from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from postbox import delivery, orgs
from postbox.bootstrap import Postbox
from postbox.clock import FrozenClock
from tests.fixtures.postbox import pdf_bytes
from tests.integration.postbox.conftest import Person
from tests.org.helpers import login as console_login
from tests.org.helpers import make_staff
from tests.web.helpers import post
from web import create_app
from web.observability import JsonFormatter

from .conftest import PIN

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
HEX = "0" * 32
EVIL_ORIGIN = "https://evil.example"
INTERNAL = "internal detail 7f3a: password=hunter2 at /srv/postbox/secret.py"


@pytest.fixture
def app(pb: Postbox) -> Iterator[Flask]:
    app = create_app(pb, {"TESTING": True, "ORG_LOGIN_LIMIT": "1000 per minute",
                          "API_RATE_LIMIT": "100000 per minute",
                          "API_AUTH_FAILURE_LIMIT": "100000 per minute"})

    # An unexpected failure in a page and in the API (registered before the first request).
    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError(INTERNAL)

    @app.get("/api/v1/boom")
    def api_boom() -> str:
        raise RuntimeError(INTERNAL)

    yield app


def _fill(rule: str, values: dict[str, str]) -> str | None:
    path = rule
    for name, value in values.items():
        path = re.sub(rf"<(?:[\w()=0-9]+:)?{name}>", value, path)
    return None if "<" in path else path


def _every_response(app: Flask, pb: Postbox, clock: FrozenClock, org: str,
                    alice: Person) -> list[tuple[str, TestResponse]]:
    """(label, response) for every GET route under every kind of caller, and the errors."""
    doc = delivery.deliver(pb, org, alice.external_id, io.BytesIO(pdf_bytes("x")), "Letter",
                           "a.pdf").document_id
    values = {"document_id": doc, "batch_id": HEX, "reply_id": HEX, "endpoint_id": HEX,
              "external_id": "CUST-1", "filename": "app.css", "case_id": HEX,
              "action": "release", "seq": "1"}
    stranger = app.test_client()
    recipient = app.test_client()
    assert post(recipient, "/login", {"identifier": alice.email, "pin": PIN,
                                      "otp": alice.otp()}).status_code == 302
    staff = app.test_client()
    assert console_login(staff, make_staff(pb, clock, org, "ada@acme.example",
                                           "admin")).status_code == 302
    token = {"Authorization": f"Bearer {orgs.create_token(pb, org, 'admin')}",
             "Origin": EVIL_ORIGIN}
    found: list[tuple[str, TestResponse]] = []

    def get(label: str, client, path: str, **kw) -> None:  # type: ignore[no-untyped-def]
        response = client.get(path, headers={"Origin": EVIL_ORIGIN, **kw.pop("headers", {})},
                              **kw)
        response.close()
        found.append((f"{label} GET {path} -> {response.status_code}", response))

    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in ("boom", "api_boom"):
            continue
        path = _fill(rule.rule, values)
        if path is None:
            continue
        if rule.rule.startswith("/api/"):
            get("token", app.test_client(), path, headers=token)
            get("stranger", stranger, path)
        elif rule.rule.startswith("/org"):
            get("staff", staff, path)
            get("stranger", stranger, path)
        else:
            get("recipient", recipient, path)
            get("stranger", stranger, path)
    get("recipient", recipient, f"/messages/{doc}/content?download=1")
    get("recipient", recipient, "/no-such-page")
    get("token", app.test_client(), "/api/v1/no-such-thing", headers=token)
    get("recipient", recipient, "/boom")
    get("token", app.test_client(), "/api/v1/boom", headers=token)
    for label, client, path in (("stranger", stranger, "/login"),
                                ("recipient", recipient, "/settings/pin"),
                                ("stranger", stranger, "/inbox")):
        response = client.post(path, data={}, headers={"Origin": EVIL_ORIGIN})
        found.append((f"{label} POST {path} -> {response.status_code}", response))
    statuses = {r.status_code for _, r in found}
    assert {200, 302, 400, 401, 404, 405, 500} <= statuses, statuses
    assert len(found) > 100, len(found)
    return found


def _csp(response: TestResponse) -> dict[str, str]:
    header = response.headers.get("Content-Security-Policy", "")
    parts = [p.strip().split(None, 1) for p in header.split(";") if p.strip()]
    return {p[0]: (p[1] if len(p) > 1 else "") for p in parts}


def _is_html(response: TestResponse) -> bool:
    return response.mimetype == "text/html"


# -- V3.4 Browser security mechanism headers -----------------------------------------------------

def test_asvs_3_4_1_hsts_on_every_response(app, pb, clock, org, alice) -> None:
    """Strict-Transport-Security with max-age of at least a year and includeSubDomains."""
    for label, response in _every_response(app, pb, clock, org, alice):
        hsts = response.headers.get("Strict-Transport-Security", "")
        age = re.search(r"max-age=(\d+)", hsts)
        assert age and int(age.group(1)) >= 31536000, (label, hsts)
        assert "includeSubDomains" in hsts, label


def test_asvs_3_4_2_cors_never_trusts_a_foreign_origin(app, pb, clock, org, alice) -> None:
    """No response grants another origin read access: no Access-Control-Allow-Origin that
    reflects an attacker's Origin or is '*', and never with credentials; a preflight from a
    foreign origin is granted nothing either."""
    for label, response in _every_response(app, pb, clock, org, alice):
        allowed = response.headers.get("Access-Control-Allow-Origin")
        assert allowed in (None, ), (label, allowed)
        assert "Access-Control-Allow-Credentials" not in response.headers, label
    preflight = app.test_client().options("/api/v1/documents", headers={
        "Origin": EVIL_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_asvs_3_4_3_csp_on_every_response(app, pb, clock, org, alice) -> None:
    """A Content-Security-Policy on every response: no inline script, no eval, no plugins
    (object-src 'none' or default-src 'none'), base-uri 'none' on every HTML page, scripts
    only from our own origin (an allowlist), and the document content fully sandboxed."""
    for label, response in _every_response(app, pb, clock, org, alice):
        csp = _csp(response)
        assert csp, label
        text = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in text and "unsafe-eval" not in text, label
        assert csp.get("object-src") == "'none'" or csp.get("default-src") == "'none'", label
        if "sandbox" in csp:  # the document: nothing may run or load at all
            assert csp["sandbox"] == "" and csp["default-src"] == "'none'", label
            continue
        assert csp.get("script-src") == "'self'", (label, text)
        if _is_html(response):
            assert csp.get("base-uri") == "'none'", (label, text)


def test_asvs_3_4_4_nosniff_on_every_response(app, pb, clock, org, alice) -> None:
    """X-Content-Type-Options: nosniff on every response (pages, API, files, errors)."""
    for label, response in _every_response(app, pb, clock, org, alice):
        assert response.headers.get("X-Content-Type-Options") == "nosniff", label


def test_asvs_3_4_5_referrer_policy_on_every_response(app, pb, clock, org, alice) -> None:
    """No URL of ours (document ids, search terms) leaks to another site as a Referer."""
    for label, response in _every_response(app, pb, clock, org, alice):
        assert response.headers.get("Referrer-Policy") in (
            "no-referrer", "same-origin", "strict-origin"), label


def test_asvs_3_4_6_framing_is_refused_by_csp(app, pb, clock, org, alice) -> None:
    """frame-ancestors on every response: 'none' for our pages (no clickjacking), 'self'
    only for the document content that our own message page frames."""
    for label, response in _every_response(app, pb, clock, org, alice):
        ancestors = _csp(response).get("frame-ancestors")
        if "/content" in label and response.status_code == 200:
            assert ancestors == "'self'", label
        else:
            assert ancestors == "'none'", (label, ancestors)


def test_asvs_3_4_8_cross_origin_opener_policy_on_html(app, pb, clock, org, alice) -> None:
    """Cross-Origin-Opener-Policy same-origin on every HTML response (no window handle for a
    page another site opened)."""
    html = 0
    for label, response in _every_response(app, pb, clock, org, alice):
        if _is_html(response):
            html += 1
            assert response.headers.get("Cross-Origin-Opener-Policy") == "same-origin", label
    assert html > 40, html


# -- V16 Security logging and error handling -----------------------------------------------------

def test_asvs_16_5_1_unexpected_errors_are_generic_with_a_reference(app, caplog) -> None:
    """An unexpected failure answers a generic message with a reference id, in the page and
    in the API's problem, never the exception text, a traceback, a file path or a version;
    the same reference is in the log together with the details for the operator."""
    with caplog.at_level(logging.ERROR):
        page = app.test_client().get("/boom")
        api = app.test_client().get("/api/v1/boom")
    html = page.get_data(as_text=True)
    assert page.status_code == 500 and api.status_code == 500
    page_ref = re.search(r"([0-9A-F]{4}-[0-9A-F]{4})", html)
    problem = api.get_json()
    api_ref = re.search(r"([0-9A-F]{4}-[0-9A-F]{4})", problem["detail"])
    assert page_ref and api_ref, (html, problem)
    assert problem["instance"] == f"urn:postbox:incident:{api_ref.group(1)}"
    for shown in (html, api.get_data(as_text=True)):
        for leak in ("hunter2", "7f3a", "secret.py", "Traceback", "RuntimeError",
                     "werkzeug", "Werkzeug/", "Python/"):
            assert leak not in shown, leak
    for ref in (page_ref.group(1), api_ref.group(1)):
        (record,) = [r for r in caplog.records if ref in r.getMessage()]
        assert record.exc_info and INTERNAL in str(record.exc_info[1])


@pytest.mark.parametrize("forged", [
    "x\r\n2026-11-24 09:00:00,000 ERROR postbox.auth login ok for admin",
    "x\n\u2028fake record",
    "x\x1b[2J\x1b[1;1Hcleared terminal",
    "x\x00after-nul",
], ids=["crlf", "newline-ls", "ansi", "nul"])
def test_asvs_16_4_1_logged_input_cannot_forge_log_lines(app, pb, org, alice,
                                                         forged) -> None:
    """Request data that ends up in a log line (the path of a 404, a CSRF failure, an API
    miss, a bad request id) is encoded: every record stays one line with no control
    characters, in the text format and in the JSON format."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(keep)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        path = "/" + quote(forged, safe="")
        client = app.test_client()
        client.get(path, headers={"X-Request-ID": re.sub(r"[\r\n\x00]", "", forged)})
        client.post(path, data={})
        client.post("/login", data={"identifier": forged, "pin": forged, "otp": "1"})
        app.test_client().get("/api/v1" + path)
        app.test_client().get("/messages/" + quote(forged, safe="") + "/content")
    finally:
        root.removeHandler(keep)
        root.setLevel(old_level)
    assert records
    text_format = logging.Formatter("%(levelname)s %(name)s %(message)s")
    for record in records:
        if record.exc_info:
            continue  # tracebacks are multi-line by nature; they carry no request data here
        for line in (text_format.format(record), JsonFormatter().format(record)):
            assert not re.search(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029]", line), repr(line)
    # The input is still in the log (an operator can see what was sent), only encoded.
    assert any(ascii(forged[1:3])[1:-1] in r.getMessage() for r in records)
