"""Hostile manifests get clear errors with line numbers, all of them, before anything is sent."""
from __future__ import annotations

import codecs
import json
import os
from pathlib import Path

import pytest

from cli.manifest import Manifest, ManifestError, Row
from tests.fixtures.postbox import pdf_bytes

HEADER = "recipient,file,subject,case,automated,due_date\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "mailing"
    (root / "docs").mkdir(parents=True)
    for name in ("a", "b", "c"):
        (root / "docs" / f"{name}.pdf").write_bytes(pdf_bytes(name))
    return root


def check(folder: Path, text: str | bytes, name: str = "manifest.csv") -> list[str]:
    path = folder / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return [str(e) for e in Manifest(path).check().errors]


def test_a_good_csv_and_jsonl(folder: Path) -> None:
    csv_text = (HEADER + "C-1,docs/a.pdf,Invoice,INV-1,true,2026-12-01\n"
                '"C-2","docs/b.pdf","Hello, you",,no,\n\n')
    path = folder / "m.csv"
    path.write_text(csv_text)
    plan = Manifest(path)
    summary = plan.check()
    assert summary.errors == [] and summary.rows == 2
    rows = [r for r in plan.rows() if isinstance(r, Row)]
    assert [(r.line, r.recipient, r.automated, r.due_date) for r in rows] == [
        (2, "C-1", True, "2026-12-01"), (3, "C-2", False, None)]
    assert rows[0].key != rows[1].key and rows[0].key == next(iter(Manifest(path).rows())).key
    lines = [json.dumps({"recipient": "C-1", "file": "docs/a.pdf", "subject": "S"}),
             json.dumps({"recipient": "C-2", "file": "docs/b.pdf", "subject": "S",
                         "automated": True, "key": "mine-1"})]
    assert check(folder, "\n".join(lines) + "\n", "m.jsonl") == []


def test_keys_follow_the_manifest_bytes(folder: Path) -> None:
    path = folder / "m.csv"
    path.write_text(HEADER + "C-1,docs/a.pdf,Invoice,,,\n")
    first = next(Manifest(path).rows())
    path.write_text(HEADER + "C-1,docs/a.pdf,Invoice,,,\nC-2,docs/b.pdf,More,,,\n")
    edited = next(Manifest(path).rows())
    resumed = next(Manifest(path, batch_key=Manifest(path).batch_key).rows())
    assert isinstance(first, Row) and isinstance(edited, Row) and isinstance(resumed, Row)
    assert first.key != edited.key and edited.key == resumed.key


def test_wrong_encoding_and_byte_order_marks(folder: Path) -> None:
    latin1 = (HEADER + "C-1,docs/a.pdf,Rechnung für Sie,,,\n").encode("latin-1")
    assert check(folder, latin1) == [
        "line 2: not UTF-8 (byte 0xfc at column 26); save the manifest as UTF-8"]
    utf16 = codecs.BOM_UTF16_LE + (HEADER + "C-1,docs/a.pdf,S,,,\n").encode("utf-16-le")
    with pytest.raises(ManifestError, match="UTF-16 .*save it as UTF-8"):
        check(folder, utf16)
    # A UTF-8 byte order mark (Excel's "CSV UTF-8") is fine.
    assert check(folder, codecs.BOM_UTF8 + (HEADER + "C-1,docs/a.pdf,S,,,\n").encode()) == []


def test_missing_unknown_and_repeated_columns(folder: Path) -> None:
    with pytest.raises(ManifestError, match="missing columns: file.*unknown columns: 'subjet'"):
        check(folder, "recipient,subjet\nC-1,S\n")
    with pytest.raises(ManifestError, match="repeated columns: file"):
        check(folder, "recipient,file,file,subject\nC-1,a,b,S\n")
    assert check(folder, '{"recipient": "C-1", "subject": "S"}\n[1]\n{bad\n', "m.jsonl") == [
        "line 1: missing file", "line 2: not a JSON object (JSON Lines: one object a line)",
        "line 3: not a JSON object (JSON Lines: one object a line)"]


def test_paths_that_leave_the_folder(folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.pdf"
    outside.write_bytes(pdf_bytes("secret"))
    os.symlink(outside, folder / "docs" / "link.pdf")
    os.symlink(tmp_path, folder / "docs" / "up")
    errors = check(folder, HEADER + "\n".join([
        "C-1,../secret.pdf,S,,,",
        f"C-2,{outside},S,,,",
        "C-3,docs/link.pdf,S,,,",
        "C-4,docs/up/secret.pdf,S,,,",
        "C-5,docs\\..\\..\\secret.pdf,S,,,",
        "C-6,C:\\secret.pdf,S,,,",
    ]) + "\n")
    assert errors == [
        "line 2: file '../secret.pdf': '..' is not allowed",
        (f"line 3: file '{outside}': absolute paths are not allowed; give a path relative to "
         "the manifest"),
        "line 4: file 'docs/link.pdf' leads outside the manifest's folder (a symlink?)",
        "line 5: file 'docs/up/secret.pdf' leads outside the manifest's folder (a symlink?)",
        "line 6: file 'docs\\\\..\\\\..\\\\secret.pdf': '..' is not allowed",
        ("line 7: file 'C:\\\\secret.pdf': absolute paths are not allowed; give a path relative "
         "to the manifest"),
    ]


def test_bad_rows_are_all_reported(folder: Path) -> None:
    (folder / "docs" / "empty.pdf").write_bytes(b"")
    (folder / "docs" / "note.pdf").write_bytes(b"just text")
    errors = check(folder, HEADER + "\n".join([  # noqa: FLY002 - one row a line
        "C-1,docs/a.pdf,Fine,,,",
        "C-1,docs/a.pdf,Fine,,,",             # duplicate of line 2
        "C-2,docs/empty.pdf,Empty,,,",
        "C-3,docs/note.pdf,Not a PDF,,,",
        "C-4,docs/missing.pdf,Missing,,,",
        "bad id!,docs/b.pdf,S,,,",
        "C-5,docs/b.pdf,,,,",
        "C-6,docs/b.pdf,S,,maybe,",
        "C-7,docs/b.pdf,S,,,31.12.2026",
        "C-8,docs/b.pdf,S,,,,extra",
    ]) + "\n")
    assert errors[0].startswith("line 3: repeats line 2 (same key 'm-")
    assert errors[1:] == [
        "line 4: file 'docs/empty.pdf' is empty (0 bytes)",
        "line 5: file 'docs/note.pdf' is not a PDF",
        "line 6: file 'docs/missing.pdf' does not exist",
        "line 7: an external id is 1-128 characters: letters, digits and . _ : @ -",
        "line 8: subject must be 1-200 characters",
        "line 9: automated must be true or false",
        "line 10: due_date '31.12.2026' is not a date (YYYY-MM-DD)",
        "line 11: 7 cells, but the header has 6",
    ]


def test_duplicate_explicit_keys_and_an_empty_manifest(folder: Path) -> None:
    rows = [{"recipient": "C-1", "file": "docs/a.pdf", "subject": "One", "key": "k"},
            {"recipient": "C-2", "file": "docs/b.pdf", "subject": "Two", "key": "k"}]
    errors = check(folder, "\n".join(json.dumps(r) for r in rows) + "\n", "m.jsonl")
    assert len(errors) == 1 and errors[0].startswith("line 2: repeats line 1")
    assert check(folder, HEADER) == ["manifest.csv: the manifest has no rows"]
    with pytest.raises(ManifestError, match="is empty"):
        check(folder, "")
    with pytest.raises(ManifestError, match=r"\.csv or \.jsonl"):
        check(folder, HEADER, "manifest.txt")
