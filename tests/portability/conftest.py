"""Portability fixtures: senders, an activated recipient with a vault, a registered witness,
and helpers to deliver documents, read export zips and cosign checkpoints.

``postbox_world`` (both engines): three organisations (one with an awkward name), alice with
an unlocked vault, and a witness registered, so a bundle verifies only if its checkpoint is
cosigned, as in production.
"""
from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from crypto.note import cosign as cosign_line
from crypto.note import generate_cosigner
from postbox import (
    auth,
    checkpoints,
    cosignatures,
    delivery,
    orgs,
    portability,
    recipients,
)
from postbox.auth import Vault
from postbox.bootstrap import Postbox
from postbox.clock import FrozenClock
from tests.fixtures.postbox import PIN, Person, activate_person

WITNESS_SEED = bytes(range(32))

@dataclass
class World:
    pb: Postbox
    clock: FrozenClock
    alice: Person
    witness_signer: str
    originals: dict[str, bytes] = field(default_factory=dict)  # document id -> plaintext
    subjects: dict[str, str] = field(default_factory=dict)

    def deliver(self, org: str, data: bytes, subject: str, filename: str = "letter.pdf",
                person: Person | None = None, **kwargs: Any) -> str:
        who = person or self.alice
        receipt = delivery.deliver(self.pb, org, who.external_id, io.BytesIO(data), subject,
                                   filename, **kwargs)
        if who is self.alice:
            self.originals[receipt.document_id] = data
            self.subjects[receipt.document_id] = subject
        return receipt.document_id

    def vault(self) -> Vault:
        token = auth.authenticate(self.pb, self.alice.email, PIN, self.alice.otp()).token
        return auth.unlock(self.pb, token)

    def grant(self, vault: Vault | None = None) -> portability.ExportGrant:
        return portability.authorise_export(self.pb, vault or self.vault(), PIN,
                                             self.alice.otp())

    def cosign(self) -> None:
        """Sign a checkpoint of everything so far and cosign it, as `postbox witness` would."""
        signed = checkpoints.sign_checkpoint(self.pb)
        text = signed.note.decode()
        body = text[: text.index("\n\n") + 1]
        line = cosign_line(body, self.witness_signer, int(self.clock.now().timestamp()))
        cosignatures.add_cosignatures(self.pb, (body + "\n" + line).encode())


@pytest.fixture
def postbox_world(pb: Postbox, clock: FrozenClock) -> World:
    for name, slug in (("Acme Bank", "acme"), ("City of Springfield", "city"),
                       ("Tax / Revenue: \"Office\"", "tax")):
        orgs.create_org(pb, name, slug)
    alice = activate_person(pb, clock, "acme", "CUST-1", "alice@example.org")
    for slug in ("city", "tax"):
        recipients.invite_recipient(pb, slug, "CUST-1", "alice@example.org")
    signer, verifier = generate_cosigner("witness.example", WITNESS_SEED)
    cosignatures.add_witness(pb, verifier)
    return World(pb, clock, alice, signer)


def unzip(data: bytes) -> zipfile.ZipFile:
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert zf.testzip() is None
    return zf

def index_of(zf: zipfile.ZipFile) -> dict[str, Any]:
    return json.loads(zf.read("index.json"))

def join(chunks: Iterable[bytes]) -> bytes:
    return b"".join(chunks)
