"""OWASP ASVS 5.0 V5 (file handling), V3.2 (unintended content interpretation) and V14.3
(client-side data protection) for the documents themselves: how they come in through the API
and how they go out through the portal.

One test per requirement, named by id, through the real Flask app (the test client, and a real
socket where the order of reading matters).
"""
from __future__ import annotations

import io
import json
import re
import socket
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from postbox import delivery, orgs
from postbox.bootstrap import Postbox, build
from postbox.clock import FrozenClock
from postbox.config import Settings
from postbox.db import make_engine
from postbox.errors import InvalidInput
from postbox.models import Document, PendingBlob
from tests.api.live import serve
from tests.fixtures.postbox import pdf_bytes
from tests.integration.postbox.conftest import Person
from tests.web.helpers import post
from web import create_app

from .conftest import PIN

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
LIMIT = 64 * 1024  # the largest document this test instance accepts
PROBLEM = "application/problem+json"
FAST = {"TESTING": True, "API_RATE_LIMIT": "100000 per minute",
        "API_AUTH_FAILURE_LIMIT": "100000 per minute"}


@pytest.fixture
def small(settings: Settings, clock: FrozenClock) -> Iterator[Postbox]:
    """The service with a small document limit, on the test's database and instance."""
    pb = build(settings.with_overrides(max_document_bytes=LIMIT), clock=clock,
               engine=make_engine(settings.database_url))
    yield pb
    pb.close()


@pytest.fixture
def app(small: Postbox) -> Iterator[Flask]:
    yield create_app(small, FAST)


@pytest.fixture
def token(small: Postbox, org: str) -> str:
    return orgs.create_token(small, org, "sender")


def _deliver(app: Flask, token: str, content: bytes, filename: str = "letter.pdf",
             key: str = "k1", recipient: str = "CUST-1"):  # type: ignore[no-untyped-def]
    meta = json.dumps({"recipient": recipient, "subject": "Letter"})
    return app.test_client().post(
        "/api/v1/documents", headers={"Authorization": f"Bearer {token}",
                                      "Idempotency-Key": key},
        data={"metadata": (io.BytesIO(meta.encode()), "", "application/json"),
              "file": (io.BytesIO(content), filename, "application/pdf")})


def _problem(response, status: int, kind: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    assert response.get_json()["type"] == f"urn:postbox:problem:{kind}"


def _stored(pb: Postbox) -> tuple[int, int, int]:
    """Documents, delivery intents, blob files: what a refused upload must leave untouched."""
    with pb.uow() as uow:
        docs = uow.session.scalar(select(func.count()).select_from(Document)) or 0
        pending = uow.session.scalar(select(func.count()).select_from(PendingBlob)) or 0
    return docs, pending, len(list(pb.store.list("")))


def _portal(app: Flask, person: Person) -> FlaskClient:
    client = app.test_client()
    assert post(client, "/login", {"identifier": person.email, "pin": PIN,
                                   "otp": person.otp()}).status_code == 302
    return client


# -- V5.2 File upload and content ----------------------------------------------------------------

def test_asvs_5_2_1_only_files_of_a_processable_size_are_accepted(app, small, token,
                                                                  alice) -> None:
    """A document over the configured limit is refused with 413 and nothing is kept; a
    request that announces a body over the limit is refused before any of it is read (the
    server cannot be made to buffer or spool it); a document at the limit is taken."""
    before = _stored(small)
    over = b"%PDF-1.4\n" + b"0" * LIMIT
    _problem(_deliver(app, token, over, key="big"), 413, "too-large")
    assert _stored(small) == before
    at_limit = pdf_bytes("fits")
    at_limit += b"%" + b"0" * (LIMIT - len(at_limit) - 1)
    assert len(at_limit) == LIMIT
    assert _deliver(app, token, at_limit, key="fits").status_code == 201

    limit = app.config["API_MAX_UPLOAD_BYTES"]
    with serve(app) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall((f"POST /api/v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          f"Authorization: Bearer {token}\r\nIdempotency-Key: huge\r\n"
                          "Content-Type: multipart/form-data; boundary=b\r\n"
                          f"Content-Length: {limit * 1000}\r\n\r\n").encode())
            answer = b""
            while chunk := sock.recv(65536):  # answered (and closed) with no body sent
                answer += chunk
    head, _, body = answer.decode("latin-1").partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 413"), head
    assert json.loads(body)["type"] == "urn:postbox:problem:request-too-large"


@pytest.mark.parametrize("content", [
    b"GIF89a\x01\x00\x01\x00",
    b"<html><script>alert(document.cookie)</script></html>",
    b"MZ\x90\x00 executable",
    b"  %PDF-1.4 not at the start",
], ids=["gif", "html", "exe", "late-magic"])
def test_asvs_5_2_2_content_must_be_the_accepted_type(app, small, token, alice,
                                                      content) -> None:
    """Documents are accepted by what their bytes are (PDF magic at offset 0), never by the
    declared name or media type: anything else named .pdf and sent as application/pdf is a
    415 and nothing is kept."""
    before = _stored(small)
    _problem(_deliver(app, token, content, "invoice.pdf"), 415, "unsupported-type")
    assert _stored(small) == before


def test_asvs_5_2_2_file_name_extension_must_match_the_content(app, small, token,
                                                               alice) -> None:
    """The extension of the submitted name matches the type the content was accepted as:
    a PDF named .exe / .html is refused (or stored under a .pdf name), never served as such."""
    for n, name in enumerate(("invoice.exe", "invoice.html", "invoice.pdf.js")):
        response = _deliver(app, token, pdf_bytes("fine"), name, key=f"ext-{n}")
        if response.status_code == 201:
            client = _portal(app, alice)
            served = client.get(f"/messages/{response.get_json()['id']}/content?download=1")
            disposition = served.headers["Content-Disposition"]
            assert ".pdf\"" in disposition, disposition
        else:
            _problem(response, 415, "unsupported-type")


# -- V5.4 File download --------------------------------------------------------------------------

@pytest.mark.parametrize("submitted, shown", [
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("C:\\Users\\x\\Rechnung März.pdf", "Rechnung März.pdf"),
    ('a"; filename=evil.html; x=".pdf', 'a"; filename=evil.html; x=".pdf'),
], ids=["traversal", "windows-path-unicode", "quote-injection"])
def test_asvs_5_4_1_downloads_name_a_validated_file_name(app, small, org, alice, submitted,
                                                         shown) -> None:
    """The submitted file name is validated (last path segment only, no control characters)
    and every response that hands over the document names it in Content-Disposition, with an
    ASCII-safe fallback and the exact name in RFC 5987 form: nothing the sender chose can add
    header parameters or a path."""
    receipt = delivery.deliver(small, org, alice.external_id, io.BytesIO(pdf_bytes("x")),
                               "Letter", submitted)
    client = _portal(app, alice)
    for query, kind in (("", "inline"), ("?download=1", "attachment")):
        response = client.get(f"/messages/{receipt.document_id}/content{query}")
        assert response.status_code == 200
        header = response.headers["Content-Disposition"]
        kind_, fallback, star = re.fullmatch(
            r'(inline|attachment); filename="([A-Za-z0-9._ ()+-]+)"; '
            r"filename\*=UTF-8''([A-Za-z0-9%._~-]+)", header).groups()
        assert kind_ == kind
        assert "/" not in fallback and ".." not in fallback
        assert unquote(star) == shown
    with pytest.raises(InvalidInput):  # a line break can never reach a header
        delivery.deliver(small, org, alice.external_id, io.BytesIO(pdf_bytes("x")), "Letter",
                         "a\r\nSet-Cookie: x=1.pdf")


# -- V3.2 Unintended content interpretation ------------------------------------------------------

def test_asvs_3_2_1_documents_render_only_in_their_own_sandboxed_context(app, small, org,
                                                                         alice) -> None:
    """A document is never rendered as part of our origin's pages: its response has the type
    sniffed from its bytes, nosniff, a CSP sandbox with nothing allowed to load or run, may be
    framed only by our own message page, and downloads are attachments. CSV reports and
    other exports are attachments too."""
    # Even a PDF carrying JavaScript and a sender-chosen .html name: sandboxed, not HTML.
    doc = delivery.deliver(small, org, alice.external_id,
                           io.BytesIO(pdf_bytes("<script>alert(1)</script>")), "Letter",
                           "page.html").document_id
    client = _portal(app, alice)
    for query in ("", "?download=1"):
        response = client.get(f"/messages/{doc}/content{query}")
        assert response.status_code == 200
        assert response.mimetype == "application/pdf"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        csp = [d.strip() for d in response.headers["Content-Security-Policy"].split(";")]
        assert "sandbox" in csp and "default-src 'none'" in csp
        assert "frame-ancestors 'self'" in csp
        assert not any(d.startswith(("script-src", "sandbox allow")) for d in csp)
        assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert client.get(f"/messages/{doc}/content?download=1").headers[
        "Content-Disposition"].startswith("attachment;")
    # The page that frames it keeps the strict policy and may not be framed by anyone.
    page = client.get(f"/messages/{doc}")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    # A batch report (sender-controlled text in cells) is a CSV attachment, never a page.
    token = orgs.create_token(small, org, "sender")
    batch = app.test_client().post("/api/v1/batches", json={},
                                   headers={"Authorization": f"Bearer {token}"}).get_json()
    report = app.test_client().get(f"/api/v1/batches/{batch['id']}/report.csv",
                                   headers={"Authorization": f"Bearer {token}"})
    assert report.mimetype == "text/csv"
    assert report.headers["Content-Disposition"].startswith("attachment;")
    assert report.headers["X-Content-Type-Options"] == "nosniff"


# -- V14.3 Client-side data protection ----------------------------------------------------------

def test_asvs_14_3_2_no_personal_response_is_cached(app, small, org, alice) -> None:
    """Every response that can carry personal data (every signed-in page, the document in
    both forms, API answers, errors) says Cache-Control: no-store, so neither the browser
    nor a shared cache keeps it; only the static assets may be cached."""
    doc = delivery.deliver(small, org, alice.external_id, io.BytesIO(pdf_bytes("x")),
                           "Letter", "a.pdf", case="C-9").document_id
    client = _portal(app, alice)
    checked = 0
    for rule in app.url_map.iter_rules():
        if (not rule.endpoint.startswith("portal.") or "GET" not in rule.methods):
            continue
        path = re.sub(r"<document_id>", doc, rule.rule)
        if "<" in path:
            continue  # /cases/<case_id>: covered by the message pages' links
        for suffix in ("", "?download=1") if rule.endpoint == "portal.content" else ("",):
            response = client.get(path + suffix)
            response.close()
            assert response.headers.get("Cache-Control") == "no-store", (path, response.headers)
            assert "Expires" not in response.headers
            checked += 1
    assert checked >= 10, checked
    token = orgs.create_token(small, org, "sender")
    api = app.test_client().get(f"/api/v1/documents/{doc}",
                                headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200 and api.headers["Cache-Control"] == "no-store"
    error = client.get("/messages/" + "0" * 32)
    assert error.status_code == 404 and error.headers["Cache-Control"] == "no-store"
    static = client.get("/static/" + _a_static_file(client, f"/messages/{doc}"))
    assert static.status_code == 200 and "no-store" not in static.headers.get(
        "Cache-Control", "")


def _a_static_file(client: FlaskClient, page: str) -> str:
    found = re.search(r'/static/([^"?]+)', client.get(page).get_data(as_text=True))
    assert found
    return found.group(1)
