"""A 200-document postbox exported and checked byte for byte; its proof bundle verifies through
the real `postbox proofs verify`; every document gets one `retrieved` with reason "export"."""
from __future__ import annotations

import json
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cli.main import main
from crypto.totp import code_at
from postbox import portability
from postbox.errors import AccountLocked, AuthenticationFailed
from postbox.models import Evidence, Recipient
from postbox.proofs import format as fmt
from tests.fixtures.postbox import PIN, pdf_bytes

from .conftest import World, index_of, join, unzip

HOSTILE = ["../../../etc/passwd", "..", "CON", "nul.txt", 'a:b*c?"<d>|e', "x" * 200,
           "Überweisung ✓ März", "invoice", "INVOICE", "C:\\Windows\\system32",
           "/absolute/path", "trailing dots...", ".hidden"]


def _verify(bundle: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["proofs", "verify", str(bundle), "--jobs", "1", *extra])
    return result.exit_code, result.output


def _export_evidence(pb, document_ids) -> list[dict]:  # type: ignore[no-untyped-def]
    with pb.uow() as uow:
        rows = uow.session.scalars(select(Evidence.body).where(
            Evidence.event == "retrieved", Evidence.document_id.in_(document_ids)))
        return [json.loads(body) for body in rows]


def test_two_hundred_documents_round_trip_byte_for_byte(postbox_world: World,
                                                         tmp_path: Path) -> None:
    w = postbox_world
    senders = ["acme", "city", "tax"]
    for n in range(200):
        subject = HOSTILE[n % len(HOSTILE)] if n % 4 == 0 else f"Letter {n}"
        data = pdf_bytes(f"document {n}", pages=1 + n % 3)
        if n % 50 == 7:  # a few span several 64 KiB pieces
            data += bytes(range(256)) * (1200 + n)
        w.deliver(senders[n % 3], data, subject, f"file-{n}.pdf",
                  case=f"CASE-{n % 5}" if n % 2 else None)
        if n % 20 == 0:
            w.clock.advance(seconds=1)
    w.cosign()

    export = portability.export_postbox(w.pb, w.grant())
    assert export.filename == "postbox-export-2026-11-24.zip"
    data = join(export)
    zf = unzip(data)
    index = index_of(zf)

    # Every byte of every document, found by the path the index gives.
    assert index["document_count"] == len(w.originals) == 200
    by_id = {entry["id"]: entry for entry in index["documents"]}
    assert set(by_id) == set(w.originals)
    for doc_id, original in w.originals.items():
        entry = by_id[doc_id]
        assert zf.read(entry["path"]) == original, entry["path"]
        assert entry["subject"] == w.subjects[doc_id]
        assert entry["size"] == len(original)
    assert export.report.documents == 200 and export.report.recorded == 200

    # Names: under documents/<sender>/, no traversal, no control characters, unique.
    names = [i.filename for i in zf.infolist()]
    doc_names = [n for n in names if n.startswith("documents/")]
    assert len(doc_names) == 200
    assert len({n.casefold() for n in names}) == len(names)
    for name in doc_names:
        parts = name.split("/")
        assert len(parts) == 3 and all(p and p not in (".", "..") for p in parts), name
        assert not any(ch in parts[2] for ch in '\\:*?"<>|') and parts[2] == parts[2].strip(" .")
        assert all(ord(ch) >= 32 for ch in name) and len(parts[2].encode()) <= 200
    folders = {s["folder"] for s in index["senders"]}
    assert folders == {"Acme Bank", "City of Springfield", 'Tax _ Revenue_ _Office_'}
    assert {n.split("/")[1] for n in doc_names} == folders
    assert sorted(names[:2]) == ["README.txt", "proofs/bundle.zip"]  # proofs lead

    # Cases (a reference per sender) are listed once; each document names its case.
    assert len(index["cases"]) == 15
    assert {c["id"] for c in index["cases"]} == {e["case"] for e in index["documents"]} - {None}
    assert sum(1 for e in index["documents"] if e["case"]) == 100

    # One `retrieved` per document, reason "export", countersigned, with the fresh TOTP step.
    bodies = _export_evidence(w.pb, list(w.originals))
    assert Counter(b["document"] for b in bodies) == Counter({d: 1 for d in w.originals})
    assert {json.dumps(b.get("details")) for b in bodies} == {'{"reason": "export"}'}
    assert {tuple(b["auth"]["methods"]) for b in bodies} == {("pin", "totp")}

    # The proof bundle inside verifies offline with the real CLI, and proves a file's content.
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(zf.read("proofs/bundle.zip"))
    code, out = _verify(bundle)
    assert code == 0, out
    assert "OK: all" in out
    zf.extract(by_id[next(iter(w.originals))]["path"], tmp_path)
    letter = tmp_path / by_id[next(iter(w.originals))]["path"]
    code, out = _verify(bundle, "--document", str(letter))
    assert code == 0 and "is the content committed to" in out, out
    assert index["proofs"]["salts"] == 200


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_export_evidence_verifies_in_the_next_bundle(postbox_world: World,
                                                     tmp_path: Path) -> None:
    """The `details.reason` field is signed and logged like any evidence: a later export's
    bundle carries the first export's retrievals and still passes every check."""
    w = postbox_world
    ids = [w.deliver("acme", pdf_bytes(f"n{n}"), f"Letter {n}") for n in range(3)]
    w.cosign()
    join(portability.export_postbox(w.pb, w.grant()))
    w.cosign()
    zf = unzip(join(portability.export_postbox(w.pb, w.grant())))
    bundle = tmp_path / "second.zip"
    bundle.write_bytes(zf.read("proofs/bundle.zip"))
    with zipfile.ZipFile(bundle) as inner:
        events = [json.loads(json.loads(line)["body"])
                  for line in inner.read(fmt.EVIDENCES).splitlines()]
    exported = [e for e in events if e["event"] == "retrieved"]
    assert sorted(e["document"] for e in exported) == sorted(ids)
    assert all(e["details"] == {"reason": "export"} for e in exported)
    code, out = _verify(bundle)
    assert code == 0, out
    assert len(_export_evidence(w.pb, ids)) == 6  # two exports, one record each per document


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_empty_postbox_exports_an_index_and_no_bundle(postbox_world: World) -> None:
    zf = unzip(join(portability.export_postbox(postbox_world.pb, postbox_world.grant())))
    index = index_of(zf)
    assert index["document_count"] == 0 and index["documents"] == [] and index["proofs"] is None
    assert sorted(zf.namelist()) == ["README.txt", "index.json"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_fresh_factors_are_checked_like_a_login(postbox_world: World) -> None:
    w = postbox_world
    vault = w.vault()

    def failures() -> int:
        with w.pb.uow() as uow:
            return uow.session.get(Recipient, vault.recipient_id).failed_attempts

    used = w.alice.otp()
    grant = portability.authorise_export(w.pb, vault, PIN, used)
    assert grant.auth["methods"] == ["pin", "totp"] and failures() == 0
    with pytest.raises(AuthenticationFailed):  # the same TOTP step twice: a replay, counted
        portability.authorise_export(w.pb, vault, PIN, used)
    with pytest.raises(AuthenticationFailed):
        portability.authorise_export(w.pb, vault, "999999", w.alice.otp())
    with pytest.raises(AuthenticationFailed):  # malformed: refused without counting (login too)
        portability.authorise_export(w.pb, vault, "not a pin", w.alice.otp())
    assert failures() == 2
    for _ in range(2):
        with pytest.raises(AuthenticationFailed) as raised:
            portability.authorise_export(w.pb, vault, PIN, "000000")
        assert not isinstance(raised.value, AccountLocked)
    with pytest.raises(AccountLocked):  # the fifth counted failure locks, as at the login
        portability.authorise_export(w.pb, vault, "111111", w.alice.otp())
    with pytest.raises(AccountLocked):  # while locked, even the right factors are refused
        portability.authorise_export(w.pb, vault, PIN, code_at(w.alice.totp_secret,
                                                               w.clock.now().timestamp()))
