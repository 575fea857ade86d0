"""Scenario helpers: people with known secrets, canary documents, a Postbox on S3 behind the
fault proxy, row counts for "nothing half-stored" checks, and real processes to kill and
restart (``postbox serve``, a throwaway PostgreSQL cluster)."""
from __future__ import annotations

import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from postbox import auth, orgs
from postbox.auth import Vault
from postbox.bootstrap import Postbox
from postbox.clock import FrozenClock
from postbox.models import Base, Document, Evidence, PendingBlob
from storage.base import BlobStore
from tests.fixtures.databases import _Cluster, _free_port
from tests.fixtures.postbox import CHEAP_ENV, pdf_bytes
from tests.integration.postbox.conftest import Person, activate_person
from tests.reliability.faultproxy import FaultProxy
from tests.reliability.invariants import World

# Long enough that no random hex id or timestamp contains it by chance (I4 looks for it).
PIN = "58203946175"


@dataclass
class Cast:
    """An organisation and its activated recipients, plus every secret they were given."""

    org: str
    people: list[Person]
    canaries: list[str] = field(default_factory=list)


def enrol(pb: Postbox, clock: FrozenClock, count: int = 1, org: str | None = None) -> Cast:
    slug = org or f"org-{secrets.token_hex(4)}"
    if org is None:
        orgs.create_org(pb, f"Org {slug}", slug)
    people = [activate_person(pb, clock, slug, f"C-{secrets.token_hex(4)}",
                              f"p{secrets.token_hex(4)}@example.org", PIN)
              for _ in range(count)]
    canaries = [PIN] + [p.totp_secret for p in people] + [p.recovery_code for p in people]
    return Cast(slug, people, canaries)


def canary_pdf(tag: str, pages: int = 1) -> tuple[bytes, str]:
    """A real PDF whose (uncompressed) text holds a unique canary."""
    canary = f"CANARY-{tag}-{secrets.token_hex(6)}"
    return pdf_bytes(canary, pages=pages), canary


def login(pb: Postbox, person: Person) -> Vault:
    return auth.unlock(pb, auth.authenticate(pb, person.email, PIN, person.otp()).token)


def rows(pb: Postbox, model: type[Base]) -> int:
    with pb.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def counts(pb: Postbox) -> dict[str, int]:
    """Documents, evidence records and delivery intents: what a failure must not change."""
    return {"documents": rows(pb, Document), "evidence": rows(pb, Evidence),
            "pending": rows(pb, PendingBlob)}


def blob_keys(pb: Postbox) -> set[str]:
    with pb.uow() as uow:
        return set(uow.session.scalars(select(Document.blob_key)))


def pending_keys(pb: Postbox) -> set[str]:
    with pb.uow() as uow:
        return set(uow.session.scalars(select(PendingBlob.blob_key)))


def stream(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)


@dataclass
class S3Rig:
    """A Postbox whose blob store reaches S3 only through ``proxy``; ``direct`` bypasses it."""

    pb: Postbox
    proxy: FaultProxy
    direct: BlobStore
    root: Path  # holds the instance folder (and the SQLite file): what I4 scans
    bucket: str

    def world(self, **kw: Any) -> World:
        return World(self.pb, store=self.direct, folders=[self.root], **kw)


# -- real processes: the server and a PostgreSQL cluster to kill -------------------------------

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate: Any, timeout: float, what: str, every: float = 0.05) -> float:
    """Poll until ``predicate()`` is true; the seconds it took (AssertionError on timeout)."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
    return time.monotonic() - started


@dataclass
class ServerProcess:
    """``postbox serve`` in its own process on a fixed port, so a restart keeps the URL."""

    home: Path
    database_url: str
    master_key_hex: str
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.home.parent / f"serve-{self.port}.log"

    def start(self, timeout: float = 60.0) -> None:
        env = {**os.environ, **CHEAP_ENV, "POSTBOX_HOME": str(self.home),
               "POSTBOX_DATABASE_URL": self.database_url,
               "POSTBOX_MASTER_KEY": self.master_key_hex,
               "POSTBOX_PUBLIC_URL": self.url, "PYTHONUNBUFFERED": "1"}
        self.starts += 1
        with open(self.log, "ab") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port)], cwd=ROOT, env=env, stdout=out,
                stderr=subprocess.STDOUT)
        wait_for(self._answers, timeout, f"postbox serve on {self.url} ({self.log})", 0.1)

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"postbox serve exited {self.proc.returncode}: "
                                 f"{self.log.read_text(errors='replace')[-2000:]}")
        try:
            return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine or the OOM killer strikes."""
        assert self.proc is not None and self.proc.poll() is None, "the server is not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        assert self.proc.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class PgCluster(_Cluster):
    """A throwaway cluster (tests/fixtures/databases.py) that can also crash and come back on
    the same port. Never the shared server on 5432: other test runs use it."""

    def _ctl(self, *args: str) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args)

    def crash(self) -> None:
        """``pg_ctl stop -m immediate``: every backend dies, no checkpoint (crash recovery)."""
        self._ctl("-m", "immediate", "stop")

    def restart(self) -> None:
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.datadir} -F"
        self._ctl("-w", "-o", opts, "-l", str(self.datadir / "server.log"), "start")


# -- a batch upload that can be cut off mid-request ---------------------------------------------

BOUNDARY = "f6-restart-boundary"
RECONNECT_S = 30.0  # how long a client may have to wait for the service to come back


@dataclass
class Mailing:
    """One batch as the client holds it: the same keys and bytes on every attempt."""

    items: list[tuple[dict[str, Any], bytes]]
    batch_key: str = "f6-batch"
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self, start: int = 0, stop: int | None = None, closing: bool = True) -> bytes:
        out = bytearray()
        for meta, pdf in self.items[start:stop]:
            out += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"item\"\r\n"
                    "Content-Type: application/json\r\n\r\n").encode()
            out += json.dumps(meta).encode() + b"\r\n"
            out += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
                    f"filename=\"{meta['key']}.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
                    ).encode()
            out += pdf + b"\r\n"
        if closing:
            out += f"--{BOUNDARY}--\r\n".encode()
        return bytes(out)


def open_upload(server: ServerProcess, token: str, batch_id: str, length: int) -> socket.socket:
    """A raw POST of the items whose body we hand over piece by piece."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=RECONNECT_S + 30)
    sock.sendall((f"POST /api/v1/batches/{batch_id}/items HTTP/1.1\r\n"
                  f"Host: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {token}\r\n"
                  f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                  f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode())
    return sock


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes] | None:
    """Status, headers and body of the answer, or None when the connection just died."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if not head:
            return None
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:]
                                              if ": " in line)}
        # The server may keep the connection open: read exactly the announced body.
        while len(body) < int(headers.get("content-length", "0")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    except (ConnectionResetError, BrokenPipeError):
        if not data:
            return None
        raise
    return int(lines[0].split()[1]), headers, body
