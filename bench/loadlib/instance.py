"""The load bench's own instance: storage, database, people, documents, and the server.

Setup goes through the postbox services, as a sender and the activation screens would:
an organisation with a sender token, recipients invited and activated (PIN + a TOTP secret
the bench keeps, so it can compute login codes) and one PDF each. The server is gunicorn
(workers x threads, as docker-compose.yml runs it), started fresh for every scenario so each
one's peak RSS is its own.
"""
from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.ingest import BIN, ROOT, children, free_port, vm_hwm_kib

PIN = "482917"
ORG = "load"
# Affordable Argon2 for people the bench never logs in as (the attacked accounts): a wrong
# PIN fails the same way whatever cost the wrap was made with, and the server derives with
# its own (production-like) cost on every attempt.
CHEAP = {"POSTBOX_ARGON2_MEMORY_KIB": "64", "POSTBOX_ARGON2_ITERATIONS": "1",
         "POSTBOX_ARGON2_LANES": "1"}


@dataclass(frozen=True)
class Person:
    email: str
    external_id: str
    totp_secret: str
    document_id: str


def pdf(size: int) -> bytes:
    return b"%PDF-1.4\n" + os.urandom(size - 9)


def init(env: dict[str, str]) -> None:
    from postbox import orgs
    from postbox.bootstrap import build
    from postbox.clock import SystemClock
    from postbox.config import load_settings
    from postbox.instance import init_instance

    settings = load_settings(env)
    init_instance(settings, SystemClock().now())
    pb = build(settings)
    try:
        orgs.create_org(pb, "Load Bank", ORG)
    finally:
        pb.close()


def sender_token(env: dict[str, str]) -> str:
    from postbox import orgs
    from postbox.bootstrap import build
    from postbox.config import load_settings

    pb = build(load_settings(env))
    try:
        return orgs.create_token(pb, ORG, "sender")
    finally:
        pb.close()


def people(env: dict[str, str], prefix: str, count: int, document: bytes | None,
           threads: int = 1) -> list[Person]:
    """``count`` activated recipients (``prefix``-i), each with one document if given."""
    from crypto.totp import code_at
    from postbox import activation, delivery, recipients
    from postbox.bootstrap import build
    from postbox.config import load_settings

    pb = build(load_settings(env))

    def one(i: int) -> tuple[str, str, str]:
        external_id, email = f"{prefix}-{i}", f"{prefix.lower()}{i}@load.example"
        code = recipients.invite_recipient(pb, ORG, external_id, email).activation_code
        if code is None:
            raise RuntimeError(f"{external_id} already has a postbox")
        start = activation.begin_activation(pb, code)
        # A code of the previous step, so the bench's first login code is a newer one.
        activation.activate(pb, code, PIN, PIN, code_at(start.totp_secret, time.time() - 30))
        return email, external_id, start.totp_secret

    try:
        # One thread by default: on SQLite a second one can starve on the write lock, which
        # these services hold during Argon2 ("database is locked" after the busy timeout).
        with ThreadPoolExecutor(threads) as pool:
            activated = list(pool.map(one, range(count)))
        found = []
        for email, external_id, secret in activated:  # deliveries one by one, like a sender
            doc = ""
            if document is not None:
                doc = delivery.deliver(pb, ORG, external_id, io.BytesIO(document), "Statement",
                                       "statement.pdf").document_id
            found.append(Person(email, external_id, secret, doc))
        return found
    finally:
        pb.close()


def failed_attempts(env: dict[str, str], emails: list[str]) -> dict[str, int]:
    """Failures counted per account: each one reached the PIN check (a locked account is
    refused before it, and nothing here logs in successfully to reset the count)."""
    from sqlalchemy import select

    from postbox.bootstrap import build
    from postbox.config import load_settings
    from postbox.models import Recipient

    pb = build(load_settings(env))
    try:
        with pb.uow() as uow:
            rows = uow.session.execute(select(Recipient.email, Recipient.failed_attempts)
                                       .where(Recipient.email.in_(emails)))
            return {email: int(n or 0) for email, n in rows}
    finally:
        pb.close()


class Server:
    """gunicorn on a free loopback port; peak RSS of every process read from /proc."""

    def __init__(self, env: dict[str, str], workers: int, threads: int, log: Path,
                 login_limit: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(env)
        if login_limit:
            env["BENCH_LOGIN_LIMIT"] = login_limit
        command = [str(BIN / "gunicorn"), "--workers", str(workers), "--threads", str(threads),
                   "--bind", f"127.0.0.1:{self.port}", "--pythonpath", str(ROOT),
                   "--timeout", "120", "--log-level", "warning",
                   "bench.loadlib.app:wsgi_app()"]
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                time.sleep(0.2)
                continue
            if len(children(self.proc.pid)) >= workers and self._healthy():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not start; see {log}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=30) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def errors(self) -> list[str]:
        """Distinct ERROR lines of the server's log (reference ids cut off), most common first."""
        found: dict[str, int] = {}
        for line in self.log.read_text(errors="replace").splitlines():
            if " ERROR " in line or "[ERROR]" in line:
                key = re.sub(r"ref=[0-9A-F-]+ |\[[0-9a-f]{16}\] |^\S+ \S+ ", "", line)
                key = re.sub(r"[0-9a-f]{32}", "<id>", key)[:160]
                found[key] = found.get(key, 0) + 1
        return [f"{n} x {text}" for text, n in sorted(found.items(), key=lambda kv: -kv[1])]

    def pids(self) -> list[int]:
        return [self.proc.pid, *children(self.proc.pid)]

    def peak_rss_mib(self) -> dict[int, float]:
        """VmHWM of the master and each worker (a worker replaced mid-run starts afresh)."""
        return {pid: vm_hwm_kib(pid) / 1024 for pid in self.pids()}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
