"""Every error kind over a real socket: an RFC 9457 problem with its stable type, and 4xx for
every client fault (never a 500)."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest

from postbox.bootstrap import build
from postbox.clock import FrozenClock
from postbox.db import make_engine
from postbox.instance import create_key_files
from storage.s3store import S3Store
from tests.api.live import MAX_DOCUMENT, Live, build_app, live_api, serve
from tests.fixtures.postbox import START, cheap_settings, pdf_bytes
from tests.web.helpers import activate_person

pytestmark = pytest.mark.s3
PROBLEM = "application/problem+json"


def expect(response, status: int, kind: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"urn:postbox:problem:{kind}" and body["status"] == status
    assert body["title"] and body["detail"]
    return body


def doc_files(meta: dict[str, object], content: bytes) -> list[tuple[str, object]]:
    return [("metadata", (None, json.dumps(meta).encode(), "application/json")),
            ("file", ("a.pdf", content, "application/pdf"))]


def test_authentication_and_roles(live: Live) -> None:
    expect(live.client(token="").get("/tokens"), 401, "unauthorized")
    bad = live.client(token="pbx_wrong").get("/tokens")
    expect(bad, 401, "unauthorized")
    assert bad.headers["WWW-Authenticate"].startswith("Bearer")
    expect(live.client(token="pbx_x", headers={"Authorization": "Basic eDp5"}).get("/tokens"),
           401, "unauthorized")
    expect(live.client("sender").get("/tokens"), 403, "forbidden")
    expect(live.client("compliance").post("/batches", json={}), 403, "forbidden")


def test_cross_organisation_access_is_not_found(live: Live, clock) -> None:
    activate_person(live.pb, clock, "acme", "C-1", "c1@example.org")
    with live.client() as api:
        doc = api.post("/documents", files=doc_files({"recipient": "C-1", "subject": "S"},
                                                      pdf_bytes("x")),
                       headers={"Idempotency-Key": "k"}).json()
        batch = api.post("/batches", json={}).json()
    with live.client(token=live.other_token) as other:
        expect(other.get(f"/documents/{doc['id']}"), 404, "not-found")
        expect(other.get(f"/batches/{batch['id']}"), 404, "not-found")
        expect(other.post(f"/batches/{batch['id']}/close"), 404, "not-found")
        expect(other.get(f"/batches/{batch['id']}/report.csv"), 404, "not-found")
        assert other.get("/recipients/C-1/reachability").json()["reachability"] == "unknown"
        expect(other.post("/documents", files=doc_files({"recipient": "C-1", "subject": "S"},
                                                        pdf_bytes("x")),
                          headers={"Idempotency-Key": "k"}), 404, "unknown-recipient")


def test_input_errors(live: Live, clock) -> None:
    activate_person(live.pb, clock, "acme", "C-1", "c1@example.org")
    with live.client() as api:
        expect(api.post("/recipients", json={"external_id": "C-9", "email": "not-an-address"}),
               400, "invalid-input")
        expect(api.post("/recipients", json={"external_id": "C-9", "email": "a@b.org",
                                             "extra": 1}), 400, "invalid-input")
        expect(api.post("/recipients", content=b"{oops", headers={
            "Content-Type": "application/json"}), 400, "malformed-request")
        expect(api.post("/recipients", content=b"x=1", headers={
            "Content-Type": "text/plain"}), 415, "unsupported-media-type")
        expect(api.post("/recipients/reachability", json={"external_ids": ["ok"] * 1001}),
               400, "invalid-input")
        expect(api.get("/recipients/bad%20id!/reachability"), 400, "invalid-input")
        expect(api.get("/batches/" + "0" * 32 + "/items", params={"limit": "0"}), 400,
               "invalid-input")
        expect(api.get("/batches/nope"), 404, "not-found")
        expect(api.get("/nothing-here"), 404, "not-found")
        gone = expect(api.delete("/batches"), 405, "method-not-allowed")
        assert gone["status"] == 405
        expect(api.post("/documents", files=doc_files({"recipient": "C-1", "subject": "S"},
                                                       pdf_bytes("x"))),
               400, "idempotency-key-required")
        expect(api.post("/documents", files=doc_files({"recipient": "C-1", "subject": ""},
                                                       pdf_bytes("x")),
                        headers={"Idempotency-Key": "e1"}), 400, "invalid-input")
        expect(api.post("/documents", content=b"--x\r\nbroken", headers={
            "Idempotency-Key": "e2", "Content-Type": "multipart/form-data; boundary=x"}),
               400, "malformed-request")
        expect(api.post("/documents", files=doc_files({"recipient": "C-1", "subject": "S"},
                                                       b"GIF89a not a pdf"),
                        headers={"Idempotency-Key": "e3"}), 415, "unsupported-type")
        big = b"%PDF-1.4\n" + b"0" * MAX_DOCUMENT
        expect(api.post("/documents", files=doc_files({"recipient": "C-1", "subject": "S"}, big),
                        headers={"Idempotency-Key": "e4"}), 413, "too-large")


def test_conflicts(live: Live, clock) -> None:
    activate_person(live.pb, clock, "acme", "C-1", "c1@example.org")
    meta = {"recipient": "C-1", "subject": "S"}
    with live.client() as api:
        ok = api.post("/documents", files=doc_files(meta, pdf_bytes("one")),
                      headers={"Idempotency-Key": "same"})
        assert ok.status_code == 201
        expect(api.post("/documents", files=doc_files(meta, pdf_bytes("two")),
                        headers={"Idempotency-Key": "same"}), 409, "conflict")
        expect(api.post("/recipients", json={"external_id": "C-1", "email": "x@example.org"}),
               409, "conflict")
        api.post("/batches", json={"reference": "r1"}, headers={"Idempotency-Key": "b"})
        expect(api.post("/batches", json={"reference": "r2"}, headers={"Idempotency-Key": "b"}),
               409, "conflict")
        small = api.post("/batches", json={"max_items": 1}).json()
        item = [("item", (None, json.dumps({"key": k, "recipient": "C-1", "subject": "S"})
                          .encode(), "application/json")) for k in ("x", "y")]
        pdf = ("file", ("a.pdf", pdf_bytes("z"), "application/pdf"))
        out = api.post(f"/batches/{small['id']}/items", files=[item[0], pdf, item[1], pdf])
        assert out.json()["items"][0]["status"] == "accepted"
        assert out.json()["items"][1]["problem"]["type"] == "urn:postbox:problem:batch-full"
        api.post(f"/batches/{small['id']}/close")
        expect(api.post(f"/batches/{small['id']}/items", files=[item[1], pdf]), 409,
               "batch-not-open")
        expect(api.post(f"/batches/{small['id']}/cancel"), 409, "conflict")
        expect(api.post(f"/batches/{small['id']}/items/1/print",
                        files=[("file", ("a.pdf", pdf_bytes("z"), "application/pdf"))]),
               409, "conflict")


def test_body_too_large_is_refused_before_it_is_read(live: Live) -> None:
    limit = live.app.config["API_MAX_BATCH_REQUEST_BYTES"]
    batch = live.client().post("/batches", json={}).json()
    port = int(live.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # Announce far more than the limit, send none of it: the answer must come anyway.
        sock.sendall((f"POST /api/v1/batches/{batch['id']}/items HTTP/1.1\r\n"
                      f"Host: 127.0.0.1\r\nAuthorization: Bearer {live.tokens['sender']}\r\n"
                      "Content-Type: multipart/form-data; boundary=b\r\n"
                      f"Content-Length: {limit * 100}\r\n\r\n").encode())
        answer = b""
        while chunk := sock.recv(65536):  # the server closes after answering
            answer += chunk
    head, _, body = answer.decode("latin-1").partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 413"), head
    assert "application/problem+json" in head
    assert json.loads(body)["type"] == "urn:postbox:problem:request-too-large"


def test_rate_limit_per_token_with_retry_after(s3_pb) -> None:
    with live_api(s3_pb, API_RATE_LIMIT="3 per minute") as live:
        with live.client() as api:
            for _ in range(3):
                assert api.get("/recipients/C-1/reachability").status_code == 200
            body = expect(api.get("/recipients/C-1/reachability"), 429, "rate-limited")
            assert 1 <= int(api.get("/batches/" + "0" * 32).headers["Retry-After"]) <= 60
            assert body["retry_after"] >= 1
        # Another token of the same organisation has its own budget.
        assert live.client("admin").get("/recipients/C-1/reachability").status_code == 200


def test_storage_down_is_503_with_retry_after(tmp_path: Path, db_url: str) -> None:
    settings = cheap_settings(tmp_path / "inst", POSTBOX_DATABASE_URL=db_url)
    create_key_files(settings)
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = S3Store("down", endpoint_url=f"http://127.0.0.1:{port}", region="us-east-1",
                    access_key="x", secret_key="y", max_attempts=1, connect_timeout=1)
    clock = FrozenClock(START)
    pb = build(settings, clock=clock, store=store, engine=make_engine(db_url))
    try:
        with live_api(pb) as live:
            activate_person(pb, clock, "acme", "C-1", "c1@example.org")
            answer = live.client().post(
                "/documents", files=doc_files({"recipient": "C-1", "subject": "S"},
                                              pdf_bytes("x")), headers={"Idempotency-Key": "k"})
            body = expect(answer, 503, "storage-unavailable")
            assert answer.headers["Retry-After"] == "30"
            assert "reference" in str(body["detail"])
    finally:
        pb.close()


def test_portal_pages_keep_their_html_errors(live: Live) -> None:
    page = live.client(token="").get(live.url + "/no-such-page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")


def test_openapi_document_needs_no_token(s3_pb) -> None:
    with serve(build_app(s3_pb)) as url:
        answer = httpx.get(url + "/api/v1/openapi.json")
    assert answer.status_code == 200 and answer.json()["openapi"] == "3.1.0"
