"""The sender API end to end over a real socket, with the blobs on the loopback S3 server:
invite, reachability, one document with its evidence, and a batch through to its report."""
from __future__ import annotations

import csv
import io
import json

import pytest
from minio import Minio
from pypdf import PdfReader

from tests.api.live import Live
from tests.fixtures.postbox import pdf_bytes
from tests.web.helpers import activate_person

pytestmark = pytest.mark.s3


def parts(*items: tuple[dict[str, object], bytes]) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for meta, content in items:
        out.append(("item", (None, json.dumps(meta).encode(), "application/json")))
        out.append(("file", ("letter.pdf", content, "application/pdf")))
    return out


def test_invite_and_reachability(live: Live) -> None:
    with live.client() as api:
        answer = api.post("/recipients", json={"external_id": "C-1", "email": "c1@example.org"})
        assert answer.status_code == 201
        assert len(answer.json()["activation_code"]) == 19
        letter = api.post("/recipients", json={"external_id": "C-2", "email": "c2@example.org"},
                          headers={"Accept": "application/pdf"})
        assert letter.status_code == 201 and letter.headers["content-type"] == "application/pdf"
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(letter.content)).pages)
        assert "/activate" in text and "C-2" in text
        linked = api.post("/recipients", json={"external_id": "C-1b", "email": "c1@example.org"})
        assert linked.status_code == 200 and linked.json()["linked_existing"] is True
        assert linked.json()["activation_code"] is None
        assert api.get("/recipients/C-1/reachability").json() == {
            "external_id": "C-1", "reachability": "invited"}
        many = api.post("/recipients/reachability", json={"external_ids": ["NOPE", "C-2", "C-1"]})
        assert [r["reachability"] for r in many.json()["results"]] == [
            "unknown", "invited", "invited"]


def test_document_with_evidence_and_replay(live: Live, clock, s3_server) -> None:
    activate_person(live.pb, clock, "acme", "C-1", "c1@example.org")
    body = pdf_bytes("CANARY-API-5521")
    meta = {"recipient": "C-1", "subject": "Invoice", "case": "INV-7", "due_date": "2026-12-31"}
    files = [("metadata", (None, json.dumps(meta).encode(), "application/json")),
             ("file", ("invoice.pdf", body, "application/pdf"))]
    with live.client() as api:
        first = api.post("/documents", files=files, headers={"Idempotency-Key": "inv-7-1"})
        assert first.status_code == 201, first.text
        doc = first.json()
        assert doc["status"] == "consigned" and doc["replayed"] is False
        assert first.headers["Location"] == f"/api/v1/documents/{doc['id']}"
        again = api.post("/documents", files=files, headers={"Idempotency-Key": "inv-7-1"})
        assert again.status_code == 200 and again.json()["id"] == doc["id"]
        assert again.headers["Idempotent-Replayed"] == "true"
        status = live.client("compliance").get(f"/documents/{doc['id']}").json()
    assert status["status"] == "consigned" and status["recipient"] == "C-1"
    assert status["case"] == "INV-7" and status["due_date"] == "2026-12-31"
    assert [e["event"] for e in status["evidence"]] == ["submission_accepted", "consigned"]
    assert json.loads(status["evidence"][1]["body"])["document"] == doc["id"]
    stored = _objects(s3_server, live)
    assert len(stored) == 1 and b"CANARY-API-5521" not in stored[0]


def _objects(s3_server, live: Live) -> list[bytes]:
    bucket = live.pb.settings.storage_url.split("?")[0].removeprefix("s3://")
    second = Minio(s3_server.endpoint.split("//", 1)[1], access_key=s3_server.access_key,
                   secret_key=s3_server.secret_key, secure=False, region=s3_server.region)
    return [second.get_object(bucket, o.object_name).read()
            for o in second.list_objects(bucket, prefix="docs/", recursive=True)]


def test_batch_from_items_to_report_and_print(live: Live, clock) -> None:
    activate_person(live.pb, clock, "acme", "C-1", "c1@example.org")
    letter, paper = pdf_bytes("for C-1"), pdf_bytes("for paper", pages=2)
    with live.client() as api:
        batch = api.post("/batches", json={"reference": "November"},
                         headers={"Idempotency-Key": "nov"}).json()
        assert batch["state"] == "open" and batch["replayed"] is False
        url = f"/batches/{batch['id']}"
        answer = api.post(f"{url}/items", files=parts(
            ({"key": "a", "recipient": "C-1", "subject": "Hello", "client_ref": "1"}, letter),
            ({"key": "b", "recipient": "NOBODY", "subject": "Paper"}, paper),
            ({"key": "c", "recipient": "C-1", "subject": "Bad"}, b"not a pdf at all"),
            ({"key": "a", "recipient": "C-1", "subject": "Hello", "client_ref": "1"}, letter)))
        assert answer.status_code == 200, answer.text
        got = [(o["key"], o["status"], o["replayed"]) for o in answer.json()["items"]]
        assert got == [("a", "accepted", False), ("b", "unreachable", False),
                       ("c", "rejected", False), ("a", "accepted", True)]
        assert "PDF" in answer.json()["items"][2]["reason"]
        assert api.post("/batches", json={"reference": "November"},
                        headers={"Idempotency-Key": "nov"}).json()["id"] == batch["id"]

        closed = api.post(f"{url}/close")
        assert closed.status_code == 200 and closed.json()["state"] == "delivered"
        assert closed.json()["counts"] == {"consigned": 1, "unreachable": 1, "rejected": 1}
        page = api.get(f"{url}/items", params={"limit": 2}).json()
        assert [i["key"] for i in page["items"]] == ["a", "b"] and page["next_after"] == 2
        rest = api.get(f"{url}/items", params={"after": 2}).json()
        assert [i["key"] for i in rest["items"]] == ["c"] and rest["next_after"] is None

        report = api.get(f"{url}/report.csv")
        rows = list(csv.DictReader(io.StringIO(report.text)))
        assert [(r["key"], r["status"], r["client_ref"]) for r in rows] == [
            ("a", "consigned", "1"), ("b", "unreachable", ""), ("c", "rejected", "")]

        printed = api.post(f"{url}/items/2/print", files=[
            ("postal_address", (None, b"Jane Doe\nMain Street 1\n1000 Town", "text/plain")),
            ("file", ("paper.pdf", paper, "application/pdf"))])
        assert printed.status_code == 200, printed.text
        pages = PdfReader(io.BytesIO(printed.content)).pages
        assert len(pages) == 3
        cover = pages[0].extract_text()
        assert "Main Street 1" in cover and "Acme Bank" in cover
        assert "for paper" in pages[1].extract_text()
        wrong = api.post(f"{url}/items/2/print",
                         files=[("file", ("x.pdf", letter, "application/pdf"))])
        assert wrong.status_code == 409
    doc_id = answer.json()["items"][0]["document_id"]
    events = [e["event"] for e in
              live.client("compliance").get(f"/documents/{doc_id}").json()["evidence"]]
    assert events == ["submission_accepted", "consigned"]


def test_cancel_delivers_nothing(live: Live, clock) -> None:
    activate_person(live.pb, clock, "acme", "C-1", "c1@example.org")
    with live.client() as api:
        batch = api.post("/batches", json={}).json()
        url = f"/batches/{batch['id']}"
        out = api.post(f"{url}/items", files=parts(
            ({"key": "a", "recipient": "C-1", "subject": "One"}, pdf_bytes("one")),
            ({"key": "b", "recipient": "C-1", "subject": "Two"}, pdf_bytes("two")))).json()
        cancelled = api.post(f"{url}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        assert cancelled.json()["counts"] == {"cancelled": 2}
        assert api.post(f"{url}/close").status_code == 409
        doc = api.get(f"/documents/{out['items'][0]['document_id']}").json()
    assert doc["status"] == "cancelled"
    assert [e["event"] for e in doc["evidence"]] == ["submission_accepted", "cancelled"]


def test_admin_manages_tokens(live: Live) -> None:
    with live.client("admin") as admin:
        made = admin.post("/tokens", json={"role": "sender", "label": "ERP"})
        assert made.status_code == 201 and made.json()["token"].startswith("pbx_")
        listed = admin.get("/tokens").json()["tokens"]
        assert made.json()["id"] in [t["id"] for t in listed]
        assert all("token" not in t for t in listed)
        fresh = made.json()["token"]
        assert live.client(token=fresh).get("/recipients/X-1/reachability").status_code == 200
        assert admin.delete(f"/tokens/{made.json()['id']}").status_code == 204
    assert live.client(token=fresh).get("/recipients/X-1/reachability").status_code == 401
