"""`postbox policy set|show|apply|dry-run` and `postbox print queue|pdf|done|dismiss`."""
from __future__ import annotations

import io

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from cli.main import main
from postbox import delivery
from tests.fixtures.postbox import pdf_bytes

from .conftest import invite


@pytest.fixture
def env(settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"POSTBOX_HOME": str(settings.home), "POSTBOX_DATABASE_URL": settings.database_url,
            "POSTBOX_MASTER_KEY": settings.master_key_hex or "",
            "POSTBOX_ARGON2_MEMORY_KIB": "64", "POSTBOX_ARGON2_ITERATIONS": "1",
            "POSTBOX_ARGON2_LANES": "1"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_policy_and_print_commands(pb, clock, org, env, tmp_path, smtp_worker) -> None:
    run = CliRunner().invoke
    out = run(main, ["policy", "set", "--org", org, "print:2,notice:0,reminder:1"], env=env)
    assert out.exit_code == 0, out.output
    assert out.output.strip() == "policy default: notice:0,reminder:1,print:2"
    bad = run(main, ["policy", "set", "--org", org, "print:0"], env=env)
    assert bad.exit_code == 1 and bad.output.startswith("error: ") and \
        len(bad.output.strip().splitlines()) == 1
    assert run(main, ["policy", "show", "--org", org], env=env).output == \
        "default\tnotice:0,reminder:1,print:2\n"
    invite(pb, org, "C-1", "alice@example.org")
    ids = tmp_path / "ids.txt"
    ids.write_text("C-1\nNOBODY\n")
    dry = run(main, ["policy", "dry-run", "--org", org, "--recipients", str(ids)], env=env)
    assert dry.exit_code == 0, dry.output
    assert "items 2, unreachable 1" in dry.output and "2\tprint\t1\t0" in dry.output
    usage = run(main, ["policy", "dry-run", "--org", org], env=env)
    assert usage.exit_code == 2

    letter = tmp_path / "letter.pdf"
    letter.write_bytes(pdf_bytes("Dear Alice"))
    doc = delivery.deliver(pb, org, "C-1", io.BytesIO(letter.read_bytes()), "Hi", "letter.pdf",
                           idempotency_key="cli-1").document_id
    shown = run(main, ["policy", "show", "--org", org, "--document", doc], env=env)
    assert "\tactive\tnext step 1" in shown.output
    smtp_worker.drain()
    clock.advance(days=1)
    smtp_worker.drain()
    clock.advance(days=1)
    smtp_worker.drain()
    listed = run(main, ["print", "queue", "--org", org], env=env)
    assert listed.exit_code == 0 and listed.output.endswith("1 entries\n")
    entry = listed.output.split("\t")[0]
    assert doc in listed.output and "checkable" in listed.output
    target = tmp_path / "out.pdf"
    made = run(main, ["print", "pdf", "--org", org, "--subject", "Hi", "--address",
                      "Alice\\nStreet 1", "-o", str(target), entry, str(letter)], env=env)
    assert made.exit_code == 0, made.output
    assert made.output.strip().splitlines()[-1] == str(target)
    assert len(PdfReader(target).pages) == 2
    wrong = run(main, ["print", "pdf", "--org", org, "--subject", "Other", "-o",
                       str(target), entry, str(letter)], env=env)
    assert wrong.exit_code == 1 and "not the document" in wrong.output
    done = run(main, ["print", "done", "--org", org, "--by", "clerk", entry], env=env)
    assert done.output.strip() == f"{entry} printed"
    assert run(main, ["print", "queue", "--org", org], env=env).output == "0 entries\n"
