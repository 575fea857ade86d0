"""The `postbox` command: results on the last line, one-line errors, exit codes 0/1/2."""
from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from cli.main import main
from tests.fixtures.postbox import CHEAP_ENV, pdf_bytes


@pytest.fixture
def run(tmp_path: Path, db_url: str):
    env = {"POSTBOX_HOME": str(tmp_path / "inst"), "POSTBOX_DATABASE_URL": db_url, **CHEAP_ENV}
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> list[str]:
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == code, (result.output, result.stderr)
        return (result.stdout if code == 0 else result.stderr).strip().splitlines()

    invoke("init")
    return invoke


def test_init_creates_key_files_0600(run, tmp_path: Path) -> None:
    keys = tmp_path / "inst" / "keys"
    for name in ("master.key", "evidence.key"):
        assert stat.S_IMODE(os.stat(keys / name).st_mode) == 0o600
    before = (keys / "master.key").read_bytes()
    run("init")  # idempotent: never overwrites a key
    assert (keys / "master.key").read_bytes() == before


def test_send_flow_prints_results_on_last_line(run, tmp_path: Path) -> None:
    assert run("org", "create", "Acme Bank")[-1] == "acme-bank"
    assert run("org", "token", "acme-bank", "--role", "sender")[-1].startswith("pbx_")
    letter = tmp_path / "letter.pdf"
    code = run("recipient", "invite", "--org", "acme-bank", "--external-id", "C-1", "--email",
               "c1@example.org", "--letter", str(letter))[-1]
    assert len(code) == 19
    text = "".join(page.extract_text() for page in PdfReader(letter).pages)
    assert code in text and "/activate" in text
    doc = tmp_path / "doc.pdf"
    doc.write_bytes(pdf_bytes("hello"))
    doc_id = run("send", str(doc), "--org", "acme-bank", "--to", "C-1", "--subject", "Hi")[-1]
    assert len(doc_id) == 32
    assert run("recipient", "status", "--org", "acme-bank", "C-1", "X-9") == [
        "C-1\tinvited", "X-9\tunknown"]


@pytest.mark.parametrize("args,code,needle", [
    (["send", "MISSING.pdf", "--org", "o", "--to", "x", "--subject", "s"], 2, "does not exist"),
    (["org", "token", "nope", "--role", "sender"], 1, "no organisation"),
    (["org", "token", "nope", "--role", "root"], 2, "Invalid value"),
    (["recipient", "invite", "--org", "nope", "--external-id", "x", "--email", "a@b.c"], 1,
     "no organisation"),
    (["org", "create", "Bad\x07Name"], 1, "control"),
])
def test_errors_are_one_line(run, args, code, needle) -> None:
    lines = run(*args, code=code)
    assert any(needle in line for line in lines)
    assert not any("Traceback" in line for line in lines)


def test_send_refuses_non_pdf_with_exit_1(run, tmp_path: Path) -> None:
    run("org", "create", "Acme Bank")
    run("recipient", "invite", "--org", "acme-bank", "--external-id", "C-1", "--email",
        "c1@example.org")
    fake = tmp_path / "fake.pdf"
    fake.write_bytes(b"<html>not a pdf</html>")
    assert run("send", str(fake), "--org", "acme-bank", "--to", "C-1", "--subject", "s",
               code=1) == ["error: only PDF documents are accepted (checked by content)"]


def test_demo_prints_a_working_login(run, tmp_path: Path) -> None:
    out = run("demo")
    assert any("PIN" in line for line in out) and any("TOTP secret" in line for line in out)
    again = run("demo")
    assert "already present" in again[0]
    assert len(run("demo", "--code")[-1]) == 6
