"""Rotating the evidence signing key: old bundles stay valid, a retired key signs nothing."""
from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cli.main import main
from crypto.signing import sign_evidence
from postbox import evidence, log, trust
from postbox.errors import ConfigError
from postbox.instance import evidence_key_file, init_instance, load_evidence_key
from postbox.keyring import EvidenceKey
from postbox.models import Evidence, SigningKey, new_id
from postbox.proofs import verify as v
from tests.fixtures.postbox import CHEAP_ENV

from .conftest import verify


def test_rotation_keeps_old_bundles_valid_and_signs_new_evidence_with_the_new_key(
        world, tmp_path) -> None:
    world.cosign()
    world.export(tmp_path / "before.zip", recipient="CUST-1", org="acme")
    old = world.pb.keys.evidence_key
    world.clock.advance(hours=1)
    result = trust.rotate_signing_key(world.pb, timedelta(minutes=15))
    assert result.old_key_id == old.key_id != result.new_key_id
    assert load_evidence_key(world.pb.settings).key_id == result.new_key_id
    assert old.seed.hex() not in evidence_key_file(world.pb.settings).read_text()
    world.clock.advance(hours=1)
    world.read("two", world.alice)  # signed with the new key
    world.cosign()
    world.export(tmp_path / "after.zip", recipient="CUST-1", org="acme")
    (tmp_path / "trust.json").write_bytes(trust.trust_document(world.pb))
    for bundle in ("before.zip", "after.zip"):
        report = verify(tmp_path / bundle, trust_file=tmp_path / "trust.json")
        assert report.ok, (bundle, report.lines())
    keys = report.get(v.SIGNATURES).detail
    assert old.key_id in keys and result.new_key_id in keys
    with world.pb.uow() as uow:
        used = set(uow.session.scalars(select(Evidence.key_id)))
        periods = {k.key_id: (k.valid_from, k.valid_until)
                   for k in uow.session.scalars(select(SigningKey))}
    assert used == {old.key_id, result.new_key_id}
    assert periods[old.key_id][1] == result.old_valid_until
    assert periods[result.new_key_id] == (result.new_valid_from, None)


def test_a_process_still_holding_the_retired_key_stops_signing_after_the_overlap(
        world, settings, clock) -> None:
    from postbox.bootstrap import build
    from postbox.db import make_engine

    stale = build(settings, clock=clock, engine=make_engine(settings.database_url))
    try:
        trust.rotate_signing_key(world.pb, timedelta(minutes=10))
        subject = evidence.Subject("o" * 32, world.alice.recipient_id, world.docs["one"])
        clock.advance(minutes=5)
        with stale.uow() as uow:  # inside the overlap: still fine
            evidence.record(uow.session, stale.keys, "notified", subject, clock.now())
            uow.commit()
        clock.advance(minutes=6)
        with stale.uow() as uow, pytest.raises(ConfigError, match="retired"):
            evidence.record(uow.session, stale.keys, "notified", subject, clock.now())
    finally:
        stale.close()


def test_a_stolen_retired_key_cannot_forge_later_evidence(world, tmp_path) -> None:
    """The old seed, used after its validity ended, is named by the signature check."""
    old = world.pb.keys.evidence_key
    trust.rotate_signing_key(world.pb, timedelta(0))
    world.clock.advance(days=30)
    body_obj = {"v": evidence.FORMAT, "id": new_id(), "event": "retrieved", "etsi":
                "ContentHandover", "time": evidence.utc_stamp(world.clock.now()),
                "sender_org": "x", "recipient": world.bob.recipient_id,
                "document": new_id(), "prev": None, "key_id": old.key_id}
    body, signature = sign_evidence(body_obj, old.seed)
    with world.pb.uow() as uow:
        uow.session.add(Evidence(id=body_obj["id"], document_id=body_obj["document"],
                                 recipient_id=world.bob.recipient_id, org_id="x",
                                 event="consigned", created_at=world.clock.now(), body=body,
                                 signature=signature, key_id=old.key_id,
                                 record_hash=hashlib.sha256(body).hexdigest()))
        uow.commit()
    log.sequence_pending(world.pb)
    world.cosign()
    world.export(tmp_path / "forged.zip", recipient=world.bob.recipient_id)
    report = verify(tmp_path / "forged.zip")
    assert v.SIGNATURES in report.failed()
    assert f"key {old.key_id} was not valid at" in report.get(v.SIGNATURES).detail


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_rotation_resumes_after_a_crash_and_the_cli_prints_the_new_key(
        world, monkeypatch, tmp_path) -> None:
    real = os.replace
    calls = []

    def crash_once(src, dst):  # type: ignore[no-untyped-def]
        calls.append(dst)
        if len(calls) == 1:
            raise OSError("power cut")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", crash_once)
    with pytest.raises(OSError):
        trust.rotate_signing_key(world.pb)
    pending = EvidenceKey.from_seed(bytes.fromhex(
        trust.next_key_file(world.pb.settings).read_text().strip()))
    again = trust.rotate_signing_key(world.pb)
    assert again.new_key_id == pending.key_id  # the same new key, registered once
    monkeypatch.undo()
    settings = world.pb.settings
    env = {"POSTBOX_HOME": str(settings.home), "POSTBOX_DATABASE_URL": settings.database_url,
           "POSTBOX_MASTER_KEY": settings.master_key_hex, **CHEAP_ENV}
    init_instance(settings, world.clock.now())
    result = CliRunner().invoke(main, ["keys", "rotate-signing", "--overlap", "0"], env=env)
    assert result.exit_code == 0, result.output
    newest = result.stdout.strip().splitlines()[-1]
    assert newest == load_evidence_key(settings).key_id != again.new_key_id
