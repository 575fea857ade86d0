"""Master-key rotation: nothing re-encrypted, everything still opens, the old key goes last."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from crypto.totp import code_at
from postbox import activation, auth, delivery, orgs, reading, recipients, rotation
from postbox.bootstrap import build
from postbox.clock import FrozenClock
from postbox.errors import InvalidInput
from postbox.instance import init_instance
from postbox.models import Document, Recipient
from tests.fixtures.postbox import CHEAP_ENV, START, cheap_settings, pdf_bytes

from .conftest import PIN, activate_person


@pytest.fixture
def setup(tmp_path: Path, db_url: str):
    settings = cheap_settings(tmp_path / "inst", POSTBOX_DATABASE_URL=db_url)
    settings = settings.with_overrides(master_key_hex=None)  # a key file, so it can rotate
    init_instance(settings, START)
    clock = FrozenClock(START)
    pb = build(settings, clock=clock)
    orgs.create_org(pb, "Acme Bank", "acme")
    alice = activate_person(pb, clock, "acme", "C-1", "alice@example.org")
    pdf = pdf_bytes("before rotation")
    doc = delivery.deliver(pb, "acme", "C-1", io.BytesIO(pdf), "Old", "old.pdf").document_id
    invited = recipients.invite_recipient(pb, "acme", "C-2", "late@example.org").activation_code
    with pb.uow() as uow:
        uow.session.get(Recipient, alice.recipient_id).anti_phishing_sealed = pb.keys.seal(
            "phrase", alice.recipient_id, b"blue heron")
        uow.commit()
    pb.close()
    env = {"POSTBOX_HOME": str(settings.home), "POSTBOX_DATABASE_URL": db_url, **CHEAP_ENV}
    return settings, clock, alice, doc, pdf, invited, env


def rotate(env: dict[str, str]) -> str:
    result = CliRunner().invoke(main, ["keys", "rotate-master"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout


def test_rotation_end_to_end(setup) -> None:
    settings, clock, alice, doc, pdf, invited, env = setup
    old_key = settings.resolved_master_key_file.read_bytes()
    out = rotate(env)
    assert "re-sealed 2 secrets" in out  # TOTP seed and anti-phishing phrase
    assert settings.resolved_master_key_file.read_bytes() != old_key
    pb = build(settings, clock=clock)
    try:
        with pb.uow() as uow:
            before = uow.session.get(Document, doc).ciphertext_sha256
            rec = uow.session.get(Recipient, alice.recipient_id)
            assert pb.keys.reseal("totp", rec.id, rec.totp_secret_sealed) is None  # current
            assert pb.keys.open("phrase", rec.id, rec.anti_phishing_sealed) == b"blue heron"
        waiting = rotation.status(pb).waiting
        assert list(waiting.values()) == [{"activation": 1, "pin": 1, "recovery": 1}]
        with pytest.raises(InvalidInput):
            rotation.finish(pb)
        # Login re-wraps the PIN copy; the documents never change.
        vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
        assert reading.read_all(pb, vault, doc)[1] == pdf
        # The invitation letter printed before the rotation still activates.
        start = activation.begin_activation(pb, invited)
        activation.activate(pb, invited, "582947", "582947",
                            code_at(start.totp_secret, clock.now().timestamp()))
        assert list(rotation.status(pb).waiting.values()) == [{"recovery": 1}]
        alice.recovery_code = auth.recover(pb, alice.email, alice.recovery_code, "730461",
                                           alice.otp())
        assert rotation.status(pb).waiting == {}
        assert len(rotation.finish(pb)) == 1
        with pb.uow() as uow:
            assert uow.session.get(Document, doc).ciphertext_sha256 == before
    finally:
        pb.close()
    pb = build(settings, clock=clock)  # without the retired key on disk
    try:
        assert pb.keys.retired_ids == []
        vault = auth.unlock(pb, auth.authenticate(pb, alice.email, "730461", alice.otp()).token)
        assert reading.read_all(pb, vault, doc)[1] == pdf
    finally:
        pb.close()


def test_rotation_resumes_after_a_crash_between_renames(setup) -> None:
    settings, clock, alice, doc, pdf, _, env = setup
    current = settings.resolved_master_key_file
    pending = current.with_name("master.key.new")
    pending.write_text("ab" * 32 + "\n")
    current.rename(current.with_name("master-retired-crashed.key"))  # as if killed mid-way
    assert not current.exists()
    out = rotate(env)
    assert current.read_text().strip() == "ab" * 32 and not pending.exists()
    assert out.strip().splitlines()[-1]  # prints the new key id
    pb = build(settings, clock=clock)
    try:
        vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
        assert reading.read_all(pb, vault, doc)[1] == pdf
    finally:
        pb.close()


def test_env_master_key_cannot_be_rotated_here(tmp_path: Path, db_url: str) -> None:
    env = {"POSTBOX_HOME": str(tmp_path / "i"), "POSTBOX_DATABASE_URL": db_url,
           "POSTBOX_MASTER_KEY": "cd" * 32, **CHEAP_ENV}
    CliRunner().invoke(main, ["init"], env=env, catch_exceptions=False)
    result = CliRunner().invoke(main, ["keys", "rotate-master"], env=env)
    assert result.exit_code == 1 and "POSTBOX_MASTER_KEY" in result.stderr
