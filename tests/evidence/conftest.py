"""Evidence-log fixtures: a small world of deliveries and retrievals, a registered witness,
and helpers to export and verify bundles.

``world`` (both engines): org ``acme``, recipients alice and bob, three documents, alice
opened the first (``retrieved``, countersigned); a witness is registered. ``cosign(pb)`` signs a
checkpoint on demand and has the witness cosign it, as ``postbox witness`` would.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from crypto.note import cosign as cosign_line
from crypto.note import generate_cosigner
from postbox import auth, checkpoints, cosignatures, delivery, reading
from postbox.bootstrap import Postbox
from postbox.clock import FrozenClock
from postbox.proofs import export
from postbox.proofs.verify import Report, verify_bundle
from tests.fixtures.postbox import pdf_bytes
from tests.integration.postbox.conftest import PIN, Person, activate_person

WITNESS_SEED = bytes(range(32))


@dataclass
class World:
    pb: Postbox
    clock: FrozenClock
    alice: Person
    bob: Person
    witness_signer: str
    witness_verifier: str
    docs: dict[str, str] = field(default_factory=dict)  # name -> document id
    plaintexts: dict[str, bytes] = field(default_factory=dict)

    def deliver(self, name: str, person: Person, text: str | None = None) -> str:
        pdf = pdf_bytes(text or f"letter {name}")
        receipt = delivery.deliver(self.pb, "acme", person.external_id, io.BytesIO(pdf),
                                   f"Subject {name}", f"{name}.pdf")
        self.docs[name] = receipt.document_id
        self.plaintexts[name] = pdf
        self.clock.advance(seconds=1)
        return receipt.document_id

    def read(self, name: str, person: Person) -> bytes:
        vault = auth.unlock(self.pb, auth.authenticate(self.pb, person.email, PIN,
                                                       person.otp()).token)
        data = reading.read_all(self.pb, vault, self.docs[name])[1]
        self.clock.advance(seconds=1)
        return data

    def vault(self, person: Person) -> auth.Vault:
        return auth.unlock(self.pb, auth.authenticate(self.pb, person.email, PIN,
                                                      person.otp()).token)

    def cosign(self) -> checkpoints.SignedCheckpoint:
        """A checkpoint of everything so far, cosigned by the witness (as `postbox witness`)."""
        signed = checkpoints.sign_checkpoint(self.pb)
        body = signed.note.decode()[: signed.note.decode().index("\n\n") + 1]
        line = cosign_line(body, self.witness_signer, int(self.clock.now().timestamp()))
        cosignatures.add_cosignatures(self.pb, (body + "\n" + line).encode())
        return signed

    def export(self, path: Path, **selection: Any) -> export.ExportReport:
        sel = export.select_evidence(self.pb, **selection)
        with open(path, "wb") as fh:
            return export.export_bundle(self.pb, sel, fh)


def make_world(pb: Postbox, clock: FrozenClock) -> World:
    from postbox import orgs

    orgs.create_org(pb, "Acme Bank", "acme")
    alice = activate_person(pb, clock, "acme", "CUST-1", "alice@example.org")
    bob = activate_person(pb, clock, "acme", "CUST-2", "bob@example.org")
    signer, verifier = generate_cosigner("witness.example", WITNESS_SEED)
    cosignatures.add_witness(pb, verifier)
    world = World(pb, clock, alice, bob, signer, verifier)
    world.deliver("one", alice)
    world.deliver("two", alice)
    world.deliver("three", bob)
    world.read("one", alice)
    return world


@pytest.fixture
def world(pb: Postbox, clock: FrozenClock) -> World:
    return make_world(pb, clock)


def verify(path: Path, **kw: Any) -> Report:
    return verify_bundle(path, jobs=1, **kw)
