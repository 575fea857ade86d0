"""Scenario helpers: people with known secrets, canary documents, a Postbox on S3 behind the
fault proxy, and row counts for "nothing half-stored" checks."""
from __future__ import annotations

import io
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from postbox import auth, orgs
from postbox.auth import Vault
from postbox.bootstrap import Postbox
from postbox.clock import FrozenClock
from postbox.models import Base, Document, Evidence, PendingBlob
from storage.base import BlobStore
from tests.fixtures.postbox import pdf_bytes
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
