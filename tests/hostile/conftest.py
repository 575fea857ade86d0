"""Fixtures of the hostile-input suite (issue #11): the whole app under the embedded server
(werkzeug's threaded server, what ``postbox serve`` runs) on loopback, its blobs on the loopback
S3 server, and the means to prove that a hostile request changed nothing.

- ``target``: a :class:`Target` around ``tests.api.live``: tokens per role for ``acme``, a
  sender token of ``other``, an activated recipient (``alice``) with one letter from each
  organisation, and helpers: ``snapshot()`` (row count of every table plus every blob key),
  ``alive()`` (the server still answers), ``raw()`` (bytes over a plain socket), ``browser()``
  (a cookie-keeping portal client).
- Modes: fast by default (SQLite only); ``POSTBOX_RELIABILITY=full`` runs every case on
  PostgreSQL too (see tests/reliability/chaos.py for the variable).
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from postbox import delivery, recipients
from postbox.bootstrap import Postbox, build
from postbox.clock import FrozenClock
from postbox.db import make_engine
from postbox.instance import create_key_files
from postbox.models import Base
from storage.s3store import S3Store
from tests.api.live import MAX_DOCUMENT, Live, live_api
from tests.fixtures.databases import _admin
from tests.fixtures.postbox import (
    PIN,
    START,
    Person,
    activate_person,
    cheap_settings,
    pdf_bytes,
)
from tests.fixtures.seaweed import S3Server

FULL = os.environ.get("POSTBOX_RELIABILITY", "").lower() == "full"
DATABASES = ["sqlite", "postgres"] if FULL else ["sqlite"]
PROBLEM = "application/problem+json"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
__all__ = [
    "DATABASES",
    "MAX_DOCUMENT",
    "PIN",
    "PROBLEM",
    "Target",
    "expect_problem",
    "pdf_bytes",
]


def expect_problem(response: httpx.Response, status: int, kind: str | None = None) -> dict[str, Any]:
    """A client-fault problem+json of this status (and kind); its body."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"] == PROBLEM, response.headers["content-type"]
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    if kind is not None:
        assert body["type"] == f"urn:postbox:problem:{kind}", body
    return body


@dataclass(frozen=True)
class Snapshot:
    rows: dict[str, int]
    blobs: frozenset[str]

    def changed(self, other: Snapshot) -> dict[str, tuple[int, int]]:
        out = {t: (n, other.rows.get(t, 0)) for t, n in self.rows.items()
               if other.rows.get(t, 0) != n}
        if self.blobs != other.blobs:
            out["blobs"] = (len(self.blobs), len(other.blobs))
        return out


@dataclass
class RawAnswer:
    status: int
    head: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Browser:
    """A portal or console client that keeps cookies itself: the session cookie is
    ``__Host-``/Secure, which a cookie jar would not send over plain http to loopback."""

    base: str
    cookies: dict[str, str] = field(default_factory=dict)
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base, timeout=30, follow_redirects=False)

    def _keep(self, response: httpx.Response) -> httpx.Response:
        for line in response.headers.get_list("set-cookie"):
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0]
            if "expires=thu, 01 jan 1970" in line.lower() or value == "":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.cookies and "Cookie" not in headers:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def get(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        return self._keep(self.client.get(path, headers=self._headers(headers), **kw))

    def post(self, path: str, headers: dict[str, str] | None = None,
             **kw: Any) -> httpx.Response:
        return self._keep(self.client.post(path, headers=self._headers(headers), **kw))

    def csrf(self, path: str) -> str:
        page = self.get(path)
        found = _CSRF.search(page.text)
        assert found, f"no CSRF token on {path} ({page.status_code})"
        return found.group(1)

    def submit(self, path: str, data: dict[str, str], token_from: str, **kw: Any
               ) -> httpx.Response:
        return self.post(path, data={"csrf_token": self.csrf(token_from), **data}, **kw)

    def login(self, person: Person, pin: str = PIN) -> httpx.Response:
        answer = self.submit("/login", {"identifier": person.email, "pin": pin,
                                        "otp": person.otp()}, "/login")
        assert answer.status_code == 302, answer.text[:300]
        return answer

    def close(self) -> None:
        self.client.close()


@dataclass
class Target:
    live: Live
    alice: Person
    acme_doc: str  # alice's letter from acme
    other_doc: str  # alice's letter from the other organisation
    clock: FrozenClock
    browsers: list[Browser] = field(default_factory=list)

    @property
    def pb(self) -> Postbox:
        return self.live.pb

    @property
    def url(self) -> str:
        return self.live.url

    @property
    def port(self) -> int:
        return int(self.live.url.rsplit(":", 1)[1])

    def api(self, role: str = "sender", **kw: Any) -> httpx.Client:
        return self.live.client(role, **kw)

    def snapshot(self) -> Snapshot:
        with self.pb.uow() as uow:
            rows = {t.name: int(uow.session.scalar(select(func.count()).select_from(t)) or 0)
                    for t in Base.metadata.sorted_tables}
        return Snapshot(rows, frozenset(self.pb.store.list("")))

    def alive(self) -> None:
        """The server still answers a plain request, promptly."""
        answer = httpx.get(self.url + "/healthz", timeout=10)
        assert answer.status_code == 200 and answer.json() == {"status": "ok"}, answer.text[:500]

    def person(self, external_id: str) -> Person:
        """A fresh activated recipient of acme (for cases that lock or change an account)."""
        unique = f"{external_id}-{uuid.uuid4().hex[:8]}"
        return activate_person(self.pb, self.clock, "acme", unique,
                               f"{unique.lower()}@example.org")

    def browser(self) -> Browser:
        found = Browser(self.url)
        self.browsers.append(found)
        return found

    def connect(self, timeout: float = 10) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def raw(self, data: bytes, timeout: float = 10, half_close: bool = False) -> RawAnswer:
        """Send bytes as they are; read the answer until the server closes or says enough."""
        with self.connect(timeout) as sock:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
            return read_answer(sock)


def read_answer(sock: socket.socket) -> RawAnswer:
    """One HTTP answer from the socket (Content-Length or until close)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    text = head.decode("latin-1")
    found = re.search(r"(?im)^content-length:\s*(\d+)", text)
    want = int(found.group(1)) if found else None
    while want is None or len(body) < want:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        body += chunk
    status = int(text.split(" ", 2)[1]) if text.startswith("HTTP/") else 0
    return RawAnswer(status, text, body)


def _deliver(pb: Postbox, org: str, external_id: str, subject: str) -> str:
    receipt = delivery.deliver(pb, org, external_id, io.BytesIO(pdf_bytes(subject)),
                               subject, "letter.pdf")
    return receipt.document_id


def _database(request: pytest.FixtureRequest, home: Path) -> Iterator[str]:
    """A fresh migrated database for one module (the session's template, copied)."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        shutil.copyfile(template, home / "postbox.sqlite3")
        yield f"sqlite:///{home / 'postbox.sqlite3'}"
        return
    pg = request.getfixturevalue("_pg_template")
    if isinstance(pg, str):
        pytest.skip(f"PostgreSQL tests SKIPPED: {pg}")
    name = f"postbox_h_{uuid.uuid4().hex}"
    _admin(pg.server, f'CREATE DATABASE "{name}" TEMPLATE "{pg.name}"')
    try:
        yield pg.server.set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(pg.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=[
    pytest.param(name, id=name, marks=[pytest.mark.postgres] if name == "postgres" else [])
    for name in DATABASES])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           s3_server: S3Server) -> Iterator[Target]:
    """One live server per module (cases share it: each compares state before and after)."""
    home = tmp_path_factory.mktemp("hostile")
    bucket = f"h-{uuid.uuid4().hex}"
    S3Store(bucket, endpoint_url=s3_server.endpoint, region=s3_server.region,
            access_key=s3_server.access_key,
            secret_key=s3_server.secret_key).ensure_bucket(object_lock=True)
    saved = {k: os.environ.get(k) for k in s3_server.env(bucket)}
    os.environ.update(s3_server.env(bucket))
    clock = FrozenClock(START)
    db = _database(request, home)
    db_url = next(db)
    settings = cheap_settings(home / "inst", POSTBOX_DATABASE_URL=db_url,
                              POSTBOX_STORAGE_URL=s3_server.s3_url(bucket),
                              POSTBOX_MAX_DOCUMENT_BYTES=str(MAX_DOCUMENT))
    create_key_files(settings)
    pb = build(settings, clock=clock, engine=make_engine(db_url))
    try:
        with live_api(pb, PORTAL_LOGIN_LIMIT="1000 per minute",
                      PORTAL_ACTIVATION_LIMIT="1000 per minute",
                      ORG_LOGIN_LIMIT="1000 per minute") as live:
            alice = activate_person(pb, clock, "acme", "C-1", "alice@example.org")
            recipients.invite_recipient(pb, "other", "O-1", "alice@example.org")
            found = Target(live, alice, _deliver(pb, "acme", "C-1", "From Acme"),
                           _deliver(pb, "other", "O-1", "From Other"), clock)
            try:
                yield found
            finally:
                for b in found.browsers:
                    b.close()
    finally:
        pb.close()
        next(db, None)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
