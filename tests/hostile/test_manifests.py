"""Hostile manifests and numbers on the sender API (issue #11: "manifests that are not JSON,
truncated, UTF-16, carry a BOM, have duplicate keys, nest 10,000 levels deep, or run to 50 MB;
NaN and huge numbers; an idempotency key reused with a different body").

A "manifest" reaches the API in three places: the JSON body of ``POST /batches``, the
``metadata`` part of ``POST /documents`` and each ``item`` part of ``POST /batches/{id}/items``
(the CLI turns a CSV or JSON Lines manifest into those parts; the server takes no manifest
file). Every hostile variant is tried in all three and must be a 400 problem with nothing
stored; a batch request answers per item, so there the item's own problem is the 400.
"""
from __future__ import annotations

import json
import select
import socket
import time

import pytest

from tests.hostile.conftest import Target, expect_problem, pdf_bytes

pytestmark = pytest.mark.s3

GOOD_DOC = {"recipient": "C-1", "subject": "Invoice"}
NEST = 10_000
MB50 = 50 * 1024 * 1024


def _variants(good: dict[str, object], dup: str, number: str) -> dict[str, bytes]:
    text = json.dumps(good)
    inner = text[1:-1]
    return {
        "not-json": b"recipient,subject\r\nC-1,Invoice\r\n",
        "truncated": text[: len(text) // 2].encode(),
        "utf16-bom": text.encode("utf-16"),
        "utf16-le": text.encode("utf-16-le"),
        "utf8-bom": b"\xef\xbb\xbf" + text.encode(),
        "duplicate-keys": ("{" + inner + f', "{dup}": "second"' + "}").encode(),
        "nested-10000": ("{" + inner + ', "x": ' + "[" * NEST + "]" * NEST + "}").encode(),
        "nan": ("{" + inner + f', "{number}": NaN' + "}").encode(),
        "infinity": ("{" + inner + f', "{number}": -Infinity' + "}").encode(),
        "huge-float": ("{" + inner + f', "{number}": 1e999' + "}").encode(),
        "huge-int-5000-digits": ("{" + inner + f', "{number}": 1' + "0" * 5000 + "}").encode(),
        "huge-int-2^64": ("{" + inner + f', "{number}": {2**64}' + "}").encode(),
    }


DOC_VARIANTS = _variants(GOOD_DOC, "recipient", "automated")
BATCH_VARIANTS = _variants({"reference": "r-1"}, "reference", "max_items")
CASES = sorted(DOC_VARIANTS)


def _doc_parts(meta: bytes, key: str = "k-1") -> tuple[list[tuple[str, object]], dict[str, str]]:
    return ([("metadata", (None, meta, "application/json")),
             ("file", ("a.pdf", pdf_bytes("x"), "application/pdf"))], {"Idempotency-Key": key})


@pytest.mark.parametrize("case", CASES)
def test_manifest_as_batch_body_is_refused(target: Target, case: str) -> None:
    before = target.snapshot()
    with target.api() as api:
        answer = api.post("/batches", content=BATCH_VARIANTS[case],
                          headers={"Content-Type": "application/json"})
    body = expect_problem(answer, 400)
    assert body["type"].rsplit(":", 1)[1] in ("malformed-request", "invalid-input")
    assert target.snapshot() == before
    target.alive()


@pytest.mark.parametrize("case", CASES)
def test_manifest_as_document_metadata_is_refused(target: Target, case: str) -> None:
    before = target.snapshot()
    files, headers = _doc_parts(DOC_VARIANTS[case])
    with target.api() as api:
        answer = api.post("/documents", files=files, headers=headers)
    body = expect_problem(answer, 400)
    assert body["type"].rsplit(":", 1)[1] in ("malformed-request", "invalid-input")
    assert target.snapshot() == before
    target.alive()


@pytest.mark.parametrize("case", CASES)
def test_manifest_as_batch_item_is_refused(target: Target, case: str) -> None:
    with target.api() as api:
        batch = api.post("/batches", json={}).json()["id"]
        before = target.snapshot()
        meta = json.loads(json.dumps({**GOOD_DOC, "key": "i-1"}))
        raw = _variants(meta, "recipient", "automated")[case]
        answer = api.post(f"/batches/{batch}/items", files=[
            ("item", (None, raw, "application/json")),
            ("file", ("a.pdf", pdf_bytes("x"), "application/pdf"))])
    assert answer.status_code == 200, answer.text[:300]  # per-item outcomes
    (item,) = answer.json()["items"]
    assert item["problem"]["status"] == 400, item
    assert target.snapshot() == before
    target.alive()


def test_the_good_manifest_passes(target: Target) -> None:
    """The control: the same shapes, well-formed, are accepted (so refusals are meaningful)."""
    with target.api() as api:
        assert api.post("/batches", content=json.dumps({"reference": "r-1"}),
                        headers={"Content-Type": "application/json"}).status_code == 201
        files, headers = _doc_parts(json.dumps(GOOD_DOC).encode())
        assert api.post("/documents", files=files, headers=headers).status_code == 201


# -- 50 MB: refused by the size limit, not read -----------------------------------------------

def _stream_until_answer(target: Target, head: bytes, total: int, piece: bytes
                         ) -> tuple[int, bytes]:
    """Send ``head`` then up to ``total`` body bytes while watching for an early answer.

    Returns how many body bytes the server let us send before it answered, and the answer."""
    sock = target.connect(timeout=20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
    sent, answer = 0, b""
    try:
        sock.sendall(head)
        sock.setblocking(False)
        deadline = time.monotonic() + 30  # a safety net, not an assertion
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock] if sent < total else [], [], 5)
            if readable:
                break
            if writable:
                try:
                    sent += sock.send(piece[: min(len(piece), total - sent)])
                except (BlockingIOError, InterruptedError):
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    break
        sock.setblocking(True)
        sock.settimeout(10)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and answer.rstrip().endswith(b"}"):
                    break
        except (ConnectionResetError, TimeoutError):
            pass
    finally:
        sock.close()
    return sent, answer


def _post_head(target: Target, path: str, content_type: str, length: int | None) -> bytes:
    framing = f"Content-Length: {length}\r\n" if length is not None else \
        "Transfer-Encoding: chunked\r\n"
    return (f"POST /api/v1{path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {target.live.tokens['sender']}\r\n"
            f"Content-Type: {content_type}\r\n{framing}Idempotency-Key: big-1\r\n"
            "Connection: close\r\n\r\n").encode()


@pytest.mark.parametrize("path", ["/batches", "/documents"])
def test_50mb_declared_is_refused_before_a_byte_is_read(target: Target, path: str) -> None:
    before = target.snapshot()
    ctype = "application/json" if path == "/batches" else "multipart/form-data; boundary=b"
    sent, answer = _stream_until_answer(target, _post_head(target, path, ctype, MB50), MB50,
                                        b"[" * 65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"request-too-large" in answer
    assert sent < 8 * 1024 * 1024, f"the server let {sent} bytes in before refusing"
    assert target.snapshot() == before
    target.alive()


@pytest.mark.parametrize("path", ["/batches", "/documents"])
def test_50mb_chunked_is_cut_off_at_the_limit(target: Target, path: str) -> None:
    """No Content-Length to refuse up front: the body is cut off once it passes the limit."""
    before = target.snapshot()
    ctype = "application/json" if path == "/batches" else "multipart/form-data; boundary=b"
    chunk = b"10000\r\n" + b"[" * 0x10000 + b"\r\n"
    sent, answer = _stream_until_answer(target, _post_head(target, path, ctype, None),
                                        MB50, chunk)
    status = answer[:12]
    assert status in (b"HTTP/1.1 413", b"HTTP/1.1 400"), answer[:300]
    assert sent < 16 * 1024 * 1024, f"the server read {sent} bytes before refusing"
    assert target.snapshot() == before
    target.alive()


def test_50mb_item_part_in_a_batch_request_is_refused_after_64k(target: Target) -> None:
    """A batch request may be large (many documents), but one item's JSON is at most 64 KiB:
    a 50 MB item part is refused once that is passed, not read to its end."""
    with target.api() as api:
        batch = api.post("/batches", json={}).json()["id"]
    before = target.snapshot()
    head = _post_head(target, f"/batches/{batch}/items", "multipart/form-data; boundary=b",
                      MB50 + 200)
    part = b'--b\r\nContent-Disposition: form-data; name="item"\r\n\r\n{"key": "'
    sent, answer = _stream_until_answer(target, head + part, MB50, b"a" * 65536)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"longer than" in answer
    assert sent < 16 * 1024 * 1024, f"the server read {sent} bytes before refusing"
    assert target.snapshot() == before
    target.alive()


# -- Idempotency key reused with a different body ---------------------------------------------

def test_idempotency_key_reused_with_another_document_is_a_conflict(target: Target) -> None:
    with target.api() as api:
        files, headers = _doc_parts(json.dumps(GOOD_DOC).encode(), "same-key")
        assert api.post("/documents", files=files, headers=headers).status_code == 201
        before = target.snapshot()
        replay = api.post("/documents", files=files, headers=headers)
        assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
        for meta, content in ((GOOD_DOC, pdf_bytes("other content")),
                              ({**GOOD_DOC, "subject": "Another subject"}, pdf_bytes("x"))):
            answer = api.post("/documents", headers=headers, files=[
                ("metadata", (None, json.dumps(meta).encode(), "application/json")),
                ("file", ("a.pdf", content, "application/pdf"))])
            expect_problem(answer, 409, "conflict")
    assert target.snapshot() == before
    target.alive()


def test_idempotency_key_reused_with_another_batch_body_is_a_conflict(target: Target) -> None:
    with target.api() as api:
        key = {"Idempotency-Key": "batch-key"}
        assert api.post("/batches", json={"reference": "a"}, headers=key).status_code == 201
        before = target.snapshot()
        expect_problem(api.post("/batches", json={"reference": "b"}, headers=key), 409,
                       "conflict")
    assert target.snapshot() == before


def test_item_key_reused_with_another_file_is_a_conflict(target: Target) -> None:
    with target.api() as api:
        batch = api.post("/batches", json={}).json()["id"]
        item = ("item", (None, json.dumps({**GOOD_DOC, "key": "ik"}).encode(),
                         "application/json"))
        first = api.post(f"/batches/{batch}/items",
                         files=[item, ("file", ("a.pdf", pdf_bytes("one"), "application/pdf"))])
        assert first.json()["items"][0]["status"] == "accepted", first.text
        before = target.snapshot()
        again = api.post(f"/batches/{batch}/items",
                         files=[item, ("file", ("a.pdf", pdf_bytes("two"), "application/pdf"))])
    problem = again.json()["items"][0]["problem"]
    assert problem["status"] == 409, problem
    assert target.snapshot() == before


@pytest.mark.parametrize("key", ["ключ", "k" * 201, "a b", "k\tk"],
                         ids=["non-ascii", "201-chars", "space", "tab"])
def test_malformed_idempotency_keys_are_refused(target: Target, key: str) -> None:
    before = target.snapshot()
    files, _ = _doc_parts(json.dumps(GOOD_DOC).encode())
    with target.api() as api:
        request = api.build_request("POST", "/documents", files=files)
        request.headers["Idempotency-Key"] = key.encode("utf-8").decode("latin-1")
        expect_problem(api.send(request), 400, "invalid-input")
    assert target.snapshot() == before
