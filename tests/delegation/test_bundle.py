"""Organisations see in proof bundles that a delegate retrieved a document, and who; the
delegate's countersignature verifies offline like any other."""
from __future__ import annotations

import json
import zipfile
from datetime import timedelta

from postbox import delegation, delegation_keys, delegation_reading
from postbox.proofs import format as fmt
from tests.evidence.conftest import make_world, verify


def test_bundle_names_the_delegate_and_verifies(pb, clock, tmp_path) -> None:
    world = make_world(pb, clock)
    owner = world.vault(world.alice)
    until = (clock.now() + timedelta(days=30)).date()
    grant = delegation.grant(pb, owner, world.bob.email, until)
    assert delegation_keys.rewrap(pb, owner) == 2
    bob = world.vault(world.bob)
    delegation.accept(pb, bob, grant.id)
    opened = delegation_reading.open_message(pb, bob, world.alice.recipient_id, world.docs["two"])
    assert b"".join(opened.chunks) == world.plaintexts["two"]
    world.cosign()
    world.export(tmp_path / "two.zip", document=world.docs["two"], org="acme")
    with zipfile.ZipFile(tmp_path / "two.zip") as zf:
        lines = [json.loads(line) for line in zf.read(fmt.EVIDENCES).splitlines()]
    retrieved = [json.loads(line["body"]) for line in lines
                 if json.loads(line["body"])["event"] == "retrieved"]
    assert len(retrieved) == 1
    assert retrieved[0]["recipient"] == world.alice.recipient_id
    assert retrieved[0]["details"]["delegate"] == world.bob.recipient_id
    report = verify(tmp_path / "two.zip")
    assert report.ok, report.lines()
    # The owner's own earlier open of "one" still verifies under the owner's key.
    world.export(tmp_path / "one.zip", document=world.docs["one"], org="acme")
    assert verify(tmp_path / "one.zip").ok
