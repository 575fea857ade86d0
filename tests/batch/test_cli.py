"""``postbox batch send`` / ``batch status`` / ``send --server`` against a live server with S3."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import func, select

from cli.main import main
from postbox.models import Batch, Document, Evidence
from tests.api.live import Live
from tests.fixtures.postbox import pdf_bytes
from tests.web.helpers import activate_person

pytestmark = pytest.mark.s3


def write_manifest(folder: Path, rows: list[tuple[str, str]], extra: str = "") -> Path:
    (folder / "docs").mkdir(parents=True, exist_ok=True)
    lines = ["recipient,file,subject,postal_address" + extra]
    for n, (recipient, subject) in enumerate(rows):
        (folder / "docs" / f"{n}.pdf").write_bytes(pdf_bytes(f"{subject} {n}"))
        lines.append(f'{recipient},docs/{n}.pdf,{subject},"Jane Roe|Street {n}|Town"')
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def run(live: Live, *args: str, code: int = 0, role: str = "sender") -> tuple[list[str], str]:
    env = {"POSTBOX_SERVER": live.url, "POSTBOX_TOKEN": live.tokens[role]}
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stdout.strip().splitlines(), result.stderr


def count(live: Live, query) -> int:  # type: ignore[no-untyped-def]
    with live.pb.uow() as uow:
        return int(uow.session.scalar(query) or 0)


def test_batch_send_delivers_reports_and_resumes_as_a_no_op(live: Live, clock,
                                                           tmp_path: Path) -> None:
    for n in range(3):
        activate_person(live.pb, clock, "acme", f"C-{n}", f"c{n}@example.org")
    manifest = write_manifest(tmp_path / "m", [(f"C-{n % 3}", f"Letter {n}") for n in range(24)])
    report = tmp_path / "report.csv"
    out, err = run(live, "batch", "send", str(manifest), "--report", str(report),
                   "--concurrency", "3", "--group-size", "5")
    batch_id = out[-1]
    assert "accepted 24" in err and "delivered" in err
    rows = list(csv.DictReader(report.open()))
    assert sorted(int(r["line"]) for r in rows) == list(range(2, 26))
    assert {r["status"] for r in rows} == {"consigned"}
    assert count(live, select(func.count()).select_from(Document)) == 24
    status, _ = run(live, "batch", "status", batch_id, role="compliance")
    assert status[-1] == "delivered" and "  consigned   24" in status
    again, err = run(live, "batch", "send", str(manifest))
    assert again[-1] == batch_id and "skipped 24 already in the batch" in err
    assert count(live, select(func.count()).select_from(Document)) == 24


def test_hostile_manifest_reports_every_row_and_sends_nothing(live: Live, clock,
                                                              tmp_path: Path) -> None:
    activate_person(live.pb, clock, "acme", "C-1", "c1@example.org")
    manifest = write_manifest(tmp_path / "m", [("C-1", "Fine"), ("GHOST-1", "Unknown"),
                                               ("C-1", "Fine 2"), ("GHOST-2", "Unknown 2")])
    (tmp_path / "m" / "docs" / "2.pdf").write_bytes(b"")
    with manifest.open("a") as fh:
        fh.write("C-1,../outside.pdf,Escape,\n")
    _, err = run(live, "batch", "send", str(manifest), code=1)
    lines = [line for line in err.splitlines() if line.startswith("manifest.csv: line")]
    assert [line.split(":")[1].strip() for line in lines] == [
        "line 3", "line 4", "line 5", "line 6"]
    assert "'GHOST-1' has no postbox" in lines[0] and "0 bytes" in lines[1]
    assert "'..' is not allowed" in lines[3] and "nothing was sent" in err
    assert count(live, select(func.count()).select_from(Batch)) == 0


def test_unreachable_rows_fall_back_to_paper(live: Live, clock, tmp_path: Path) -> None:
    activate_person(live.pb, clock, "acme", "C-1", "c1@example.org")
    manifest = write_manifest(tmp_path / "m", [("C-1", "Digital"), ("PAPER-1", "Paper")])
    prints = tmp_path / "print"
    _, err = run(live, "batch", "send", str(manifest), "--allow-unreachable",
                   "--print-dir", str(prints))
    assert "unreachable 1" in err
    [pdf] = list(prints.iterdir())
    assert pdf.name == "line-000003-PAPER-1.pdf"
    pages = PdfReader(pdf).pages
    assert len(pages) == 2 and "Street 1" in pages[0].extract_text()
    assert "Paper 1" in pages[1].extract_text()
    _, err = run(live, "batch", "send", str(manifest), code=1)  # not allowed: not a success
    assert "has no postbox" in err


def test_send_one_document_through_the_api(live: Live, clock, tmp_path: Path) -> None:
    activate_person(live.pb, clock, "acme", "C-1", "c1@example.org")
    letter = tmp_path / "letter.pdf"
    letter.write_bytes(pdf_bytes("one letter"))
    args = ("send", str(letter), "--to", "C-1", "--subject", "Hello", "--server", live.url,
            "--token", live.tokens["sender"])
    first, _ = run(live, *args)
    again, _ = run(live, *args)
    assert first[-1] == again[-1] and "already delivered" in again[0]
    _, err = run(live, "send", str(letter), "--to", "NOPE", "--subject", "Hello", code=1)
    assert "organisation has no such recipient" in err
    assert count(live, select(func.count()).select_from(Evidence)
                 .where(Evidence.event == "consigned")) == 1
