"""Hostile callers of the sender API, the org console and the log API over real HTTP (issue
#11): IDOR with ids ±1 and another tenant's ids, ``"role": "admin"`` mass assignment, header
injection in e-mail addresses and names, SQL and LIKE wildcards in the console's search, CSV
formula injection in exported reports, log injection, and huge numbers in the log API."""
from __future__ import annotations

import csv
import io
import json
import logging

import pytest

from tests.hostile.conftest import Browser, Target, expect_problem, pdf_bytes
from tests.org.helpers import StaffPerson, make_staff

pytestmark = pytest.mark.s3


def _neighbour(hex_id: str, step: int) -> str:
    return f"{(int(hex_id, 16) + step) % 16**32:032x}"


def _staff(target: Target, role: str) -> tuple[StaffPerson, Browser]:
    import uuid

    person = make_staff(target.pb, target.clock, "acme", f"{role}-{uuid.uuid4().hex[:6]}@acme.example",
                        role)
    browser = target.browser()
    answer = browser.submit("/org/login", {"email": person.email, "password": person.password,
                                           "otp": person.otp()}, "/org/login")
    assert answer.status_code == 302, answer.text[:300]
    return person, browser


def _batch_with_item(target: Target, token: str | None = None, **item: str) -> tuple[str, str]:
    with target.live.client(token=token or target.live.tokens["sender"]) as api:
        batch = api.post("/batches", json={}).json()["id"]
        who = "O-1" if token == target.live.other_token else "C-1"
        meta = {"recipient": who, "subject": "Report", "key": "k-1", **item}
        added = api.post(f"/batches/{batch}/items", files=[
            ("item", (None, json.dumps(meta).encode(), "application/json")),
            ("file", ("a.pdf", pdf_bytes("r"), "application/pdf"))])
        assert added.json()["items"][0]["status"] == "accepted", added.text
        doc = api.post("/documents", headers={"Idempotency-Key": f"idor-{batch}"}, files=[
            ("metadata", (None, json.dumps({"recipient": who, "subject": "S"}).encode(),
                          "application/json")),
            ("file", ("a.pdf", pdf_bytes("d"), "application/pdf"))]).json()["id"]
    return batch, doc


# -- IDOR --------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["plus-1", "minus-1", "other-tenant"])
def test_api_idor_is_not_found(target: Target, which: str) -> None:
    batch, doc = _batch_with_item(target, token=target.live.other_token)  # other's objects
    own_batch, own_doc = _batch_with_item(target)
    ids = {"plus-1": (_neighbour(own_batch, 1), _neighbour(own_doc, 1)),
           "minus-1": (_neighbour(own_batch, -1), _neighbour(own_doc, -1)),
           "other-tenant": (batch, doc)}[which]
    before = target.snapshot()
    with target.api() as api:
        b, d = ids
        for answer in (api.get(f"/documents/{d}"), api.get(f"/batches/{b}"),
                       api.get(f"/batches/{b}/items"), api.get(f"/batches/{b}/report.csv"),
                       api.post(f"/batches/{b}/close"), api.post(f"/batches/{b}/cancel"),
                       api.post(f"/batches/{b}/items/1/print", files=[
                           ("file", ("a.pdf", pdf_bytes("p"), "application/pdf"))])):
            expect_problem(answer, 404, "not-found")
        # The other tenant's recipient is "unknown" here, never "reachable".
        assert api.get("/recipients/O-1/reachability").json()["reachability"] == "unknown"
    with target.live.client("compliance") as api:
        answer = api.post("/proofs/export", json={"document_id": ids[1]})
        assert answer.status_code == 404, answer.text[:200]
    assert target.snapshot() == before


@pytest.mark.parametrize("which", ["plus-1", "minus-1", "other-tenant"])
def test_console_idor_is_not_found(target: Target, which: str) -> None:
    batch, doc = _batch_with_item(target, token=target.live.other_token)
    own_batch, own_doc = _batch_with_item(target)
    b, d = {"plus-1": (_neighbour(own_batch, 1), _neighbour(own_doc, 1)),
            "minus-1": (_neighbour(own_batch, -1), _neighbour(own_doc, -1)),
            "other-tenant": (batch, doc)}[which]
    _, admin = _staff(target, "admin")
    _, officer = _staff(target, "compliance")
    for who, path in ((admin, f"/org/batches/{b}"), (admin, f"/org/batches/{b}/report.csv"),
                      (officer, f"/org/compliance/documents/{d}"),
                      (officer, f"/org/compliance/documents/{d}/bundle.zip"),
                      (officer, f"/org/compliance/documents/{d}/certificate.pdf")):
        answer = who.get(path)
        assert answer.status_code == 404, (path, answer.status_code)
        assert answer.headers["content-type"].startswith("text/html")


# -- mass assignment ---------------------------------------------------------------------------

@pytest.mark.parametrize("path,body", [
    ("/recipients", {"external_id": "M-1", "email": "m1@example.org", "role": "admin"}),
    ("/batches", {"reference": "m", "role": "admin"}),
    ("/batches", {"reference": "m", "org_id": "0" * 32}),
    ("/tokens", {"role": "admin"}),
], ids=["recipient-role", "batch-role", "batch-org-id", "sender-mints-admin-token"])
def test_mass_assignment_is_refused(target: Target, path: str, body: dict[str, str]) -> None:
    before = target.snapshot()
    with target.api("sender") as api:
        answer = api.post(path, json=body)
    assert answer.status_code in (400, 403), answer.text
    expect_problem(answer, answer.status_code)
    assert target.snapshot() == before


def test_admin_token_creation_takes_no_extra_fields(target: Target) -> None:
    before = target.snapshot()
    with target.api("admin") as api:
        for body in ({"role": "superuser"}, {"role": "sender", "org_id": "0" * 32},
                     {"role": "sender", "label": "x\r\nX-Injected: 1"}):
            expect_problem(api.post("/tokens", json=body), 400, "invalid-input")
    assert target.snapshot() == before


def test_portal_settings_ignore_a_role_field(target: Target) -> None:
    person = target.person("R")
    browser = target.browser()
    browser.login(person)
    before = target.snapshot()
    answer = browser.submit("/settings/phrase", {"phrase": "hello", "role": "admin",
                                                 "recipient_id": "0" * 32}, "/settings")
    assert answer.status_code in (200, 302, 400)
    after = target.snapshot()
    assert after.rows == before.rows  # the phrase is an update; no new rows of any kind


# -- header injection in e-mail addresses and names --------------------------------------------

@pytest.mark.parametrize("email", ["a@example.org\r\nBcc: victim@example.org",
                                   "a@example.org\nBcc: victim@example.org",
                                   "a@example.org%0d%0aBcc:victim@example.org",
                                   "\"a\r\nb\"@example.org", "a@example.org>\r\nTo: <b@x.org",
                                   "Alice <a@example.org>"],
                         ids=["crlf-bcc", "lf-bcc", "encoded-crlf", "quoted-crlf",
                              "angle-crlf", "display-name"])
def test_header_injection_in_email_is_refused(target: Target, email: str) -> None:
    before = target.snapshot()
    with target.api() as api:
        expect_problem(api.post("/recipients", json={"external_id": "H-1", "email": email}),
                       400, "invalid-input")
    assert target.snapshot() == before


@pytest.mark.parametrize("name", ["Acme\r\nBcc: x@example.org", "Acme\u202e", "\x00"],
                         ids=["crlf", "rlo", "nul"])
def test_header_injection_in_names_is_refused(target: Target, name: str) -> None:
    """Names that reach mail or pages: token labels (API), subjects (shown and searched)."""
    before = target.snapshot()
    with target.api("admin") as api:
        expect_problem(api.post("/tokens", json={"role": "sender", "label": name}), 400,
                       "invalid-input")
        expect_problem(api.post("/documents", headers={"Idempotency-Key": "hdr"}, files=[
            ("metadata", (None, json.dumps({"recipient": "C-1", "subject": name}).encode(),
                          "application/json")),
            ("file", ("a.pdf", pdf_bytes("h"), "application/pdf"))]), 400, "invalid-input")
    assert target.snapshot() == before


# -- search ------------------------------------------------------------------------------------

@pytest.mark.parametrize("field,value", [
    ("external_id", "%"), ("external_id", "_"), ("external_id", "C-%"),
    ("external_id", "' OR '1'='1"), ("case", "%"), ("case", "'; DROP TABLE documents; --"),
    ("document", "%"), ("batch", "' OR 1=1 --"), ("since", "2026-13-45"),
    ("page", "99999999999999999999999")],
    ids=["ext-percent", "ext-underscore", "ext-prefix-percent", "ext-sql-or", "case-percent",
         "case-sql-drop", "document-percent", "batch-sql-or", "bad-date", "huge-page"])
def test_console_search_treats_wildcards_and_sql_as_text(target: Target, field: str,
                                                         value: str) -> None:
    _, officer = _staff(target, "compliance")
    before = target.snapshot()
    params = {field: value} if field != "page" else {"external_id": "C-1", "page": value}
    answer = officer.get("/org/compliance", params=params)
    assert answer.status_code in (200, 400), answer.status_code
    if field != "page":
        assert target.acme_doc not in answer.text  # no wildcard matched anything
    control = officer.get("/org/compliance", params={"external_id": "C-1"})
    assert target.acme_doc in control.text
    assert target.snapshot().rows == before.rows
    huge = officer.get("/org/batches/" + "0" * 32, params={"after": "9" * 30})
    assert huge.status_code == 404


# -- CSV formula injection ---------------------------------------------------------------------

FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2+3", "@SUM(A1)",
            "\t=1", "|calc", "%0A=1"]


@pytest.mark.parametrize("cell", FORMULAS, ids=["equals", "plus", "minus", "at", "tab", "pipe",
                                                 "percent"])
def test_csv_reports_neutralise_formulas(target: Target, cell: str) -> None:
    batch, _ = _batch_with_item(target, client_ref=cell, key=cell[:200].replace("\t", "T")
                                if cell.isascii() and "\t" not in cell else "k-tab")
    with target.api() as api:
        api_report = api.get(f"/batches/{batch}/report.csv").text
    _, admin = _staff(target, "admin")
    console_report = admin.get(f"/org/batches/{batch}/report.csv").text
    for report in (api_report, console_report):
        rows = list(csv.reader(io.StringIO(report)))
        header, row = rows[0], rows[1]
        value = row[header.index("client_ref")]
        assert value.startswith("'") and cell.strip().endswith(value[1:].strip()), value
        for other in row:
            assert other[:1] not in ("=", "+", "@", "\t", "|") or other.startswith("'")


# -- log injection -----------------------------------------------------------------------------

FORGED = "INFO postbox.auth forged: admin logged in"


@pytest.mark.parametrize("where", ["portal-404", "console-404", "api-404", "login-identifier",
                                   "request-id", "api-problem"])
def test_log_injection_stays_on_one_line(target: Target, where: str,
                                         caplog: pytest.LogCaptureFixture) -> None:
    crlf = "%0d%0a" + FORGED.replace(" ", "%20")
    with caplog.at_level(logging.DEBUG):
        if where == "portal-404":
            target.raw(f"GET /nope{crlf} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                       .encode())
        elif where == "console-404":
            target.raw(f"GET /org/nope{crlf} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                       .encode())
        elif where == "api-404":
            target.raw(f"GET /api/v1/nope{crlf} HTTP/1.1\r\nHost: x\r\nConnection: close"
                       "\r\n\r\n".encode())
        elif where == "login-identifier":
            target.browser().submit("/login", {"identifier": "x\r\n" + FORGED, "pin": "1",
                                               "otp": "1"}, "/login")
        elif where == "request-id":
            target.raw(("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: abcdefgh%0a"
                        + FORGED + "\r\nConnection: close\r\n\r\n").encode())
        else:
            with target.api() as api:
                api.post("/recipients", json={"external_id": "x\r\n" + FORGED,
                                              "email": "a@example.org"})
    target.alive()
    if where in ("portal-404", "console-404"):  # the refusal is logged: the check has teeth
        assert any(FORGED in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        text = record.getMessage()
        assert "\n" not in text and "\r" not in text or FORGED not in text, repr(text)


# -- the log API: numbers and notes ------------------------------------------------------------

@pytest.mark.parametrize("query", ["index=-1", "index=1e9", "index=99999999999999999999",
                                   "index=9999999999999999999", "index=%C2%B2",
                                   "index=%D9%A3", "index=NaN", "index=0&size=18446744073709551616",
                                   "first=9999999999999999999&second=1"],
                         ids=["negative", "exponent", "20-digits", "19-digits-over-int64",
                              "superscript-two", "arabic-three", "nan", "size-2^64",
                              "consistency-huge"])
def test_log_api_numbers_are_4xx(target: Target, query: str) -> None:
    path = "/api/v1/log/proof/consistency" if query.startswith("first") else \
        "/api/v1/log/proof/inclusion"
    answer = target.raw(f"GET {path}?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                        .encode())
    assert 400 <= answer.status < 500, (answer.status, answer.body[:300])
    assert "application/problem+json" in answer.head
    target.alive()


@pytest.mark.parametrize("note", [b"", b"\xff\xfe\x00garbage", b"not a note\n\n\xe2\x80\xae",
                                  b"x" * 70_000, b"example\n" * 10_000],
                         ids=["empty", "utf16-junk", "rlo", "70kb", "many-lines"])
def test_cosignature_junk_is_4xx(target: Target, note: bytes) -> None:
    before = target.snapshot()
    answer = httpx_post(target, "/api/v1/log/cosignature", note)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert answer.headers["content-type"] == "application/problem+json"
    assert target.snapshot() == before


def httpx_post(target: Target, path: str, content: bytes):  # type: ignore[no-untyped-def]
    import httpx

    return httpx.post(target.url + path, content=content,
                      headers={"Content-Type": "text/plain"}, timeout=30)
