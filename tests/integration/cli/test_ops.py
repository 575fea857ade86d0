"""storage check, backup and restore: a restore drill where every document opens afterwards."""
from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from postbox import auth, delivery, reading
from postbox.bootstrap import build
from postbox.clock import FrozenClock
from postbox.instance import init_instance
from postbox.integrity import check_storage
from tests.fixtures.postbox import START, cheap_settings, pdf_bytes
from tests.integration.postbox.conftest import PIN, activate_person

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def instance(tmp_path: Path, db_url: str):
    home = tmp_path / "a"
    settings = cheap_settings(home, POSTBOX_MASTER_KEY="")  # key from the file, so it is backed up
    settings = settings.with_overrides(master_key_hex=None)
    init_instance(settings, START)
    clock = FrozenClock(START)
    pb = build(settings, clock=clock)
    from postbox import orgs

    orgs.create_org(pb, "Acme Bank", "acme")
    person = activate_person(pb, clock, "acme", "C-1", "c1@example.org")
    docs = {}
    for i in range(3):
        pdf = pdf_bytes(f"doc {i}")
        docs[delivery.deliver(pb, "acme", "C-1", io.BytesIO(pdf), f"D{i}", f"{i}.pdf")
             .document_id] = pdf
    yield pb, person, docs, clock
    pb.close()


def cli(home: Path, *args: str, code: int = 0) -> str:
    env = {"POSTBOX_HOME": str(home), "POSTBOX_ARGON2_MEMORY_KIB": "64",
           "POSTBOX_ARGON2_ITERATIONS": "1", "POSTBOX_ARGON2_LANES": "1"}
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == code, result.output + result.stderr
    return result.stdout


def test_storage_check_finds_missing_corrupt_and_orphans(instance) -> None:
    pb, _, docs, _ = instance
    assert check_storage(pb).ok and check_storage(pb).checked == 3
    keys = sorted(pb.store.list("docs/"))
    blob = pb.store.root / keys[0]
    data = bytearray(blob.read_bytes())
    data[500] ^= 1
    blob.write_bytes(bytes(data))
    (pb.store.root / keys[1]).unlink()
    pb.store.put("docs/zz/zz/orphan", io.BytesIO(b"stray"))
    report = check_storage(pb)
    assert len(report.corrupt) == 1 and len(report.missing) == 1
    assert report.orphans == ["docs/zz/zz/orphan"]
    out = cli(pb.settings.home, "storage", "check", code=1)
    assert "corrupt:" in out and "missing:" in out and "orphan blob: docs/zz/zz/orphan" in out
    assert check_storage(pb, sample=2).checked == 2


def test_restore_drill(instance, tmp_path: Path) -> None:
    pb, person, docs, clock = instance
    archive = tmp_path / "backup.tar.gz"
    assert cli(pb.settings.home, "backup", str(archive)).strip() == str(archive)
    assert oct(os.stat(archive).st_mode & 0o777) == "0o600"
    target = tmp_path / "b"
    cli(target, "restore", str(archive))
    restored = build(cheap_settings(target).with_overrides(master_key_hex=None), clock=clock)
    try:
        vault = auth.unlock(restored, auth.authenticate(restored, person.email, PIN,
                                                        person.otp()).token)
        for doc_id, pdf in docs.items():
            assert reading.read_all(restored, vault, doc_id)[1] == pdf
        assert check_storage(restored).ok
    finally:
        restored.close()


def test_restore_refuses_non_empty_or_tampered(instance, tmp_path: Path) -> None:
    pb, _, _, _ = instance
    archive = tmp_path / "backup.tar.gz"
    cli(pb.settings.home, "backup", str(archive))
    result = CliRunner().invoke(main, ["restore", str(archive)],
                                env={"POSTBOX_HOME": str(pb.settings.home)})
    assert result.exit_code == 1 and "empty instance" in result.stderr
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        data = b'{"format": "postbox-backup/1", "files": {"../x": "00"}}'
        info = tarfile.TarInfo("MANIFEST.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("../x")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    result = CliRunner().invoke(main, ["restore", str(evil)],
                                env={"POSTBOX_HOME": str(tmp_path / "c")})
    assert result.exit_code == 1 and "unsafe entry" in result.stderr
    assert not (tmp_path / "x").exists()
