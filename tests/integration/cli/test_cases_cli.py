"""org keys init -> a recipient replies -> `replies pull` decrypts locally -> cases release."""
from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from postbox import auth, delivery, replies
from postbox.bootstrap import build
from postbox.clock import FrozenClock
from postbox.instance import init_instance
from tests.fixtures.postbox import CHEAP_ENV, START, cheap_settings, pdf_bytes
from tests.integration.postbox.conftest import PIN, activate_person

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_reply_round_trip_through_the_cli(tmp_path: Path, db_url: str) -> None:
    settings = cheap_settings(tmp_path / "i", POSTBOX_DATABASE_URL=db_url)
    init_instance(settings, START)
    env = {"POSTBOX_HOME": str(settings.home), "POSTBOX_DATABASE_URL": db_url,
           "POSTBOX_MASTER_KEY": settings.master_key_hex, **CHEAP_ENV}
    runner = CliRunner()

    def cli(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == code, result.output + result.stderr
        return result.stdout + result.stderr

    cli("org", "create", "Acme Bank")
    key = tmp_path / "org.key"
    cli("org", "keys", "init", "acme-bank", "--out", str(key))
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert "refusing to overwrite" in cli("org", "keys", "init", "acme-bank", "--out", str(key),
                                          code=2)
    clock = FrozenClock(START)
    pb = build(settings, clock=clock)
    try:
        person = activate_person(pb, clock, "acme-bank", "C-1", "c@example.org")
        doc = delivery.deliver(pb, "acme-bank", "C-1", io.BytesIO(pdf_bytes("inv")), "Invoice",
                               "inv.pdf", case="INV-9", automated=True)
        vault = auth.unlock(pb, auth.authenticate(pb, person.email, PIN, person.otp()).token)
        replies.reply(pb, vault, doc.document_id, "Paid by card.",
                      [("proof.pdf", pdf_bytes("receipt"))])
        held = delivery.deliver(pb, "acme-bank", "C-1", io.BytesIO(pdf_bytes("rem")),
                                "Reminder", "rem.pdf", case="INV-9", automated=True)
        assert held.status == "held"
    finally:
        pb.close()
    assert "INV-9\ton hold since" in cli("cases", "list", "--org", "acme-bank")
    out = tmp_path / "pulled"
    assert cli("replies", "pull", "--key", str(key), "--out", str(out)).splitlines()[-1] == "1"
    [entry] = json.loads((out / "summary.json").read_text())
    folder = out / entry["reply"]
    assert (folder / "message.txt").read_text() == "Paid by card."
    assert (folder / "proof.pdf").read_bytes().startswith(b"%PDF")
    assert entry["case"] == "INV-9" and entry["kind"] == "reply"
    assert cli("replies", "pull", "--key", str(key), "--out", str(out)).splitlines()[-1] == "0"
    assert cli("cases", "release", "INV-9", "--org", "acme-bank", "--by", "ops",
               "--yes").splitlines()[-1] == "1"
    assert "no case is on hold" in cli("cases", "list", "--org", "acme-bank")
    bad = tmp_path / "bad.key"
    bad.write_text("{}")
    assert "not an organisation key file" in cli("replies", "pull", "--key", str(bad), code=1)


def test_correct_supersede_and_retract(tmp_path: Path, db_url: str) -> None:
    settings = cheap_settings(tmp_path / "i", POSTBOX_DATABASE_URL=db_url)
    init_instance(settings, START)
    env = {"POSTBOX_HOME": str(settings.home), "POSTBOX_DATABASE_URL": db_url,
           "POSTBOX_MASTER_KEY": settings.master_key_hex, **CHEAP_ENV}
    clock = FrozenClock(START)
    pb = build(settings, clock=clock)
    try:
        from postbox import orgs, reading

        orgs.create_org(pb, "Acme Bank", "acme")
        person = activate_person(pb, clock, "acme", "C-1", "c@example.org")
        old, new = (delivery.deliver(pb, "acme", "C-1", io.BytesIO(pdf_bytes(t)), t, "x.pdf")
                    .document_id for t in ("Wrong", "Right"))
    finally:
        pb.close()
    runner = CliRunner()
    result = runner.invoke(main, ["correct", "supersede", old, new, "--org", "acme", "--by",
                                  "billing"], env=env)
    assert result.exit_code == 0 and result.stdout.splitlines()[-1] == new
    result = runner.invoke(main, ["correct", "retract", new, "--org", "acme", "--by",
                                  "billing", "--reason", "sent twice"], env=env)
    assert result.exit_code == 0
    result = runner.invoke(main, ["correct", "retract", "0" * 32, "--org", "acme", "--by", "x",
                                  "--reason", "r"], env=env)
    assert result.exit_code == 1 and "no such document" in result.stderr
    pb = build(settings, clock=clock)
    try:
        vault = auth.unlock(pb, auth.authenticate(pb, person.email, PIN, person.otp()).token)
        assert reading.message(pb, vault, old).superseded_by == new
        assert reading.message(pb, vault, new).retracted
    finally:
        pb.close()
