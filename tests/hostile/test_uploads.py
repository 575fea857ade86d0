"""Hostile documents and hostile transport on ``POST /api/v1/documents`` (issue #11): traversal,
control, bidi and over-long file names; zip bombs and zip slip; max+1 bytes and 0 bytes; HTML
disguised as PDF; a lying Content-Length and slowloris against the real threaded server."""
from __future__ import annotations

import io
import json
import threading
import unicodedata
import zipfile
from urllib.parse import unquote

import httpx
import pytest

from tests.hostile.conftest import (
    MAX_DOCUMENT,
    Target,
    expect_problem,
    pdf_bytes,
    read_answer,
)

pytestmark = pytest.mark.s3
BOUNDARY = "hostile-boundary"


def multipart(meta: dict[str, object] | bytes, content: bytes,
              filename: bytes = b"a.pdf", ctype: bytes = b"application/pdf") -> bytes:
    """A multipart body built by hand, so a file name's bytes arrive exactly as given."""
    raw = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
    b = BOUNDARY.encode()
    return (b"--" + b + b'\r\nContent-Disposition: form-data; name="metadata"\r\n'
            b"Content-Type: application/json\r\n\r\n" + raw + b"\r\n--" + b +
            b'\r\nContent-Disposition: form-data; name="file"; filename="' + filename +
            b'"\r\nContent-Type: ' + ctype + b"\r\n\r\n" + content + b"\r\n--" + b + b"--\r\n")


def post_document(target: Target, body: bytes, key: str):  # type: ignore[no-untyped-def]
    with target.api() as api:
        return api.post("/documents", content=body, headers={
            "Idempotency-Key": key,
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})


def served_name(target: Target, document_id: str) -> str:
    """The file name as the portal serves it (the exact UTF-8 name of Content-Disposition)."""
    browser = target.browser()
    browser.login(target.alice)
    header = browser.get(f"/messages/{document_id}/content",
                         params={"download": "1"}).headers["Content-Disposition"]
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    assert all(c.isascii() and c.isprintable() and c not in '/\\"' for c in fallback), header
    return unquote(header.split("filename*=UTF-8''", 1)[1])


def assert_safe_name(name: str) -> None:
    assert name and len(name) <= 200
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in name), ascii(name)


# -- file names --------------------------------------------------------------------------------

NAMES: dict[str, bytes] = {
    "dotdot-slash": b"../../etc/passwd.pdf",
    "dotdot-backslash": b"..\\..\\windows\\win.ini.pdf",
    "absolute": b"/etc/shadow.pdf",
    "percent-encoded": b"%2e%2e%2fetc%2fpasswd.pdf",
    "double-encoded": b"%252e%252e%252fetc%252fpasswd.pdf",
    "overlong-utf8": b"\xc0\xae\xc0\xae\xc0\xafetc.pdf",
    "only-dotdot": b"..",
    "nul": b"invoice\x00.exe.pdf",
    "crlf": b"a.pdf\r\nContent-Type: text/html",
    "rlo": "invoice\u202efdp.exe".encode(),
    "zero-width": "inv\u200boice.pdf".encode(),
    "1000-chars": b"a" * 996 + b".pdf",
}


def _check_outcome(target: Target, answer, before) -> str:  # type: ignore[no-untyped-def]
    """Refused (400, nothing stored) or accepted under a safe display name; which one."""
    if answer.status_code == 201:
        assert_safe_name(served_name(target, answer.json()["id"]))
        return "neutralised"
    expect_problem(answer, 400)
    assert target.snapshot() == before
    return "refused"


@pytest.mark.parametrize("case", list(NAMES))
def test_hostile_name_in_metadata(target: Target, case: str) -> None:
    name = NAMES[case].decode("utf-8", "surrogateescape")
    before = target.snapshot()
    meta = json.dumps({"recipient": "C-1", "subject": "Names", "filename": name},
                      ensure_ascii=False).encode("utf-8", "surrogateescape")
    answer = post_document(target, multipart(meta, pdf_bytes("n")), f"meta-name-{case}")
    outcome = _check_outcome(target, answer, before)
    if case in ("nul", "rlo", "zero-width", "1000-chars", "only-dotdot",
                "overlong-utf8"):
        assert outcome == "refused"
    target.alive()


@pytest.mark.parametrize("case", list(NAMES))
def test_hostile_name_in_multipart_header(target: Target, case: str) -> None:
    before = target.snapshot()
    if case == "crlf":  # a raw CR/LF ends the header: the rest becomes a header of its own
        filename = NAMES[case]
    else:
        filename = NAMES[case].replace(b'"', b"%22")
    answer = post_document(target, multipart({"recipient": "C-1", "subject": "Names"},
                                             pdf_bytes("n"), filename), f"part-name-{case}")
    assert answer.status_code < 500
    _check_outcome(target, answer, before)
    target.alive()


@pytest.mark.parametrize("path", ["/api/v1/recipients/..%2f..%2fadmin/reachability",
                                  "/api/v1/recipients/%2e%2e/reachability",
                                  "/api/v1/recipients/%252e%252e%252f/reachability",
                                  "/api/v1/recipients/%c0%ae%c0%ae/reachability",
                                  "/api/v1/recipients/a%00b/reachability",
                                  "/api/v1/recipients/a%0d%0ab/reachability",
                                  "/api/v1/documents/..%2f..%2f",
                                  "/api/v1/batches/..%2Fbatches"],
                         ids=["dotdot-slash", "dotdot", "double-encoded", "overlong-utf8",
                              "nul", "crlf", "document-dotdot", "batch-dotdot"])
def test_traversal_in_api_paths_is_a_4xx(target: Target, path: str) -> None:
    before = target.snapshot()
    answer = target.raw((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                         f"{target.live.tokens['sender']}\r\nConnection: close\r\n\r\n").encode())
    assert 400 <= answer.status < 500, answer.head
    assert "application/problem+json" in answer.head
    assert target.snapshot() == before


# -- zip input ---------------------------------------------------------------------------------

def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


ZIPS = {
    "zip-bomb": _zip({"zeros.pdf": b"\0" * (20 << 20)}),  # ~20 KB that inflates to 20 MB
    "zip-slip": _zip({"../../../../tmp/evil.pdf": pdf_bytes("slip")}),
}


@pytest.mark.parametrize("ctype", [b"application/zip", b"application/pdf"],
                         ids=["as-zip", "disguised-as-pdf"])
@pytest.mark.parametrize("case", list(ZIPS))
def test_zip_input_does_not_exist_so_zips_are_refused(target: Target, case: str,
                                                      ctype: bytes) -> None:
    """No surface takes zip input: documents are sniffed by their first bytes and only PDF
    (the API) or PDF/PNG/JPEG (reply attachments) pass, so a zip bomb or a zip-slip archive is
    refused as an unsupported type before anything is unpacked, stored or recorded."""
    before = target.snapshot()
    answer = post_document(target, multipart({"recipient": "C-1", "subject": "Zip"},
                                             ZIPS[case], b"letter.zip", ctype), f"zip-{case}")
    expect_problem(answer, 415, "unsupported-type")
    assert target.snapshot() == before
    target.alive()


# -- sizes and types ---------------------------------------------------------------------------

def _pdf_of_size(size: int) -> bytes:
    head = b"%PDF-1.4\n%"
    return head + b"0" * (size - len(head))


@pytest.mark.parametrize("case,content,status,kind", [
    ("max-plus-1", _pdf_of_size(MAX_DOCUMENT + 1), 413, "too-large"),
    ("zero-bytes", b"", 400, "invalid-input"),
    ("html-disguised-as-pdf", b"<!DOCTYPE html><html><script>alert(1)</script></html>", 415,
     "unsupported-type"),
    ("html-after-whitespace", b"\n\n<html><body onload=alert(1)>%PDF-1.7", 415,
     "unsupported-type"),
    ("svg-as-pdf", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', 415,
     "unsupported-type"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 40 else "")
def test_bad_document_is_refused(target: Target, case: str, content: bytes, status: int,
                                 kind: str) -> None:
    before = target.snapshot()
    answer = post_document(target, multipart({"recipient": "C-1", "subject": "Size"}, content),
                           f"size-{case}")
    expect_problem(answer, status, kind)
    assert target.snapshot() == before
    target.alive()


def test_exactly_max_bytes_is_accepted(target: Target) -> None:
    """The control for max+1: the limit itself is allowed."""
    answer = post_document(target, multipart({"recipient": "C-1", "subject": "Max"},
                                             _pdf_of_size(MAX_DOCUMENT)), "size-max")
    assert answer.status_code == 201, answer.text


# -- lying Content-Length, slowloris -----------------------------------------------------------

def _head(target: Target, length: int) -> bytes:
    return (f"POST /api/v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {target.live.tokens['sender']}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Idempotency-Key: lying-{length}\r\nContent-Length: {length}\r\n"
            "Connection: close\r\n\r\n").encode()


def test_content_length_shorter_than_the_body(target: Target) -> None:
    body = multipart({"recipient": "C-1", "subject": "Lie"}, pdf_bytes("lie"))
    before = target.snapshot()
    answer = target.raw(_head(target, len(body) // 2) + body)
    assert answer.status == 400, answer.head
    assert json.loads(answer.body)["type"] == "urn:postbox:problem:malformed-request"
    assert target.snapshot() == before
    target.alive()


def test_content_length_longer_than_a_cut_body_then_close(target: Target) -> None:
    """The body stops in the middle of the file and the client hangs up: 4xx, nothing kept."""
    body = multipart({"recipient": "C-1", "subject": "Lie"}, pdf_bytes("lie"))
    cut = body[: len(body) - 200]
    before = target.snapshot()
    answer = target.raw(_head(target, len(body)) + cut, half_close=True)
    assert 400 <= answer.status < 500, answer.head
    assert "application/problem+json" in answer.head
    assert target.snapshot() == before
    target.alive()


def test_content_length_longer_than_a_complete_body_then_close(target: Target) -> None:
    """All parts arrive, closing boundary included, but the length announced more: the
    delivery is complete, so it is answered 201 and kept (never a 4xx with a stored letter)."""
    body = multipart({"recipient": "C-1", "subject": "Lie"}, pdf_bytes("whole"))
    before = target.snapshot()
    answer = target.raw(_head(target, len(body) + 10_000) + body, half_close=True)
    assert answer.status == 201, answer.head
    assert target.snapshot().rows["documents"] == before.rows["documents"] + 1
    target.alive()


def test_content_length_longer_than_the_body_then_silence(target: Target) -> None:
    """The client stops sending mid-body and keeps the connection: that request waits (one
    thread), the server keeps answering others, and nothing is stored when it gives up."""
    body = multipart({"recipient": "C-1", "subject": "Lie"}, pdf_bytes("lie"))
    before = target.snapshot()
    with target.connect() as stuck:
        stuck.sendall(_head(target, len(body)) + body[: len(body) - 200])
        target.alive()
        with target.api() as api:
            assert api.get("/recipients/C-1/reachability").status_code == 200
    target.alive()
    assert target.snapshot() == before


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_slowloris_is_bounded_and_others_are_served(target: Target, phase: str) -> None:
    """50 connections dribble a request a few bytes at a time (bounded: 10 rounds). Meanwhile
    every other request gets a prompt answer: served, or - once the in-flight bound of
    web/overload.py is taken - a 503 with Retry-After, never a hang or a 500; once the
    dribblers give up the server is fully back and nothing was stored."""
    before = target.snapshot()
    head = _head(target, 4096)
    socks = [target.connect() for _ in range(50)]
    pause = threading.Event()
    try:
        for s in socks:
            s.sendall(head.split(b"\r\n", 1)[0] + b"\r\n" if phase == "headers" else head)
        for round_ in range(10):
            for s in list(socks):
                try:
                    s.sendall(b"X-Slow-%d: 1\r\n" % round_ if phase == "headers" else b"-")
                except (BrokenPipeError, ConnectionResetError):  # turned away (503): fine
                    socks.remove(s)
                    s.close()
            probe = httpx.get(target.url + "/healthz", timeout=10)
            assert probe.status_code in (200, 503), probe.status_code
            if probe.status_code == 503:
                assert int(probe.headers["Retry-After"]) >= 1
            pause.wait(0.02)
    finally:
        for s in socks:
            s.close()
    target.alive()
    assert target.snapshot() == before


def test_header_of_64kb_is_refused(target: Target) -> None:
    with target.connect() as sock:
        sock.sendall(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nX-Big: " +
                     b"a" * 70_000 + b"\r\n\r\n")
        answer = read_answer(sock)
    assert 400 <= answer.status < 500, answer.head
    target.alive()


def test_many_headers_are_refused(target: Target) -> None:
    with target.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" +
                     b"".join(b"X-H%d: 1\r\n" % i for i in range(200)) + b"\r\n")
        try:
            answer = read_answer(sock)
        except (TimeoutError, ConnectionResetError):
            answer = None
    assert answer is None or answer.status == 431 or answer.status < 500
    target.alive()
