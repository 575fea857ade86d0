"""Proof bundles against an adversary: every tampering is caught, and the right check named.

The bundles are made once per module on one SQLite instance (the verifier never touches a
database, so running these on both engines would prove nothing more).
"""
from __future__ import annotations

import hashlib
import json
import random
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from crypto.note import generate_signer
from crypto.signing import key_id
from postbox import trust
from postbox.bootstrap import build
from postbox.clock import FrozenClock
from postbox.db import migrate
from postbox.instance import create_key_files, evidence_key_file, log_key_file
from postbox.proofs import export
from postbox.proofs import format as fmt
from postbox.proofs import verify as v
from postbox.proofs.trustfile import EvidenceKey, dump_trust
from tests.fixtures.postbox import START, cheap_settings

from .conftest import World, make_world, verify


@dataclass
class Env:
    world: World
    one: Path  # document "one" (alice; submitted, consigned, retrieved)
    two: Path  # document "two" (alice)
    alice: Path  # recipient alice: documents one and two
    forked: Path  # a bundle from a log that shares the keys but has another history
    trust: Path
    salt: bytes
    dir: Path


def _instance(home: Path):  # type: ignore[no-untyped-def]
    home.mkdir(parents=True)
    url = f"sqlite:///{home / 'db.sqlite3'}"
    migrate(url)
    settings = cheap_settings(home / "instance", POSTBOX_DATABASE_URL=url)
    return settings


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    home = tmp_path_factory.mktemp("bundles")
    settings = _instance(home / "a")
    create_key_files(settings)
    clock = FrozenClock(START)
    pb = build(settings, clock=clock)
    world = make_world(pb, clock)
    world.cosign()
    one, two, alice = home / "one.zip", home / "two.zip", home / "alice.zip"
    world.export(one, document=world.docs["one"], org="acme")
    world.export(two, document=world.docs["two"], org="acme")
    world.export(alice, recipient="CUST-1", org="acme")
    (home / "trust.json").write_bytes(trust.trust_document(pb))
    salt = export.commitment_salts(pb, world.vault(world.alice), [world.docs["one"]])
    # The fork: another database signed with the same evidence and log keys (a dishonest
    # operator keeping a second history), never shown to the witness.
    fork_settings = _instance(home / "f")
    for key_file in (evidence_key_file, log_key_file):
        key_file(fork_settings).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(key_file(settings), key_file(fork_settings))
    create_key_files(fork_settings)
    fork_clock = FrozenClock(START)
    fork = make_world(build(fork_settings, clock=fork_clock), fork_clock)
    forked = home / "forked.zip"
    fork.export(forked, document=fork.docs["one"])
    return Env(world, one, two, alice, forked, home / "trust.json", salt[world.docs["one"]],
               home)


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _write(path: Path, members: dict[str, bytes], rehash: bool = False) -> Path:
    """A bundle with these members; ``rehash``: the attacker also fixes the manifest's hashes
    and counts (it cannot sign it)."""
    members = dict(members)
    if rehash:
        manifest = json.loads(members[fmt.MANIFEST])
        for name in manifest["files"]:
            if name in members:
                manifest["files"][name] = {"sha256": hashlib.sha256(members[name]).hexdigest(),
                                           "size": len(members[name])}
        manifest["evidence_count"] = members[fmt.EVIDENCES].count(b"\n")
        members[fmt.MANIFEST] = json.dumps(manifest, indent=2).encode() + b"\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def test_an_honest_bundle_passes_every_check(env: Env) -> None:
    for path in (env.one, env.two, env.alice):
        report = verify(path, trust_file=env.trust)
        assert report.ok, report.lines()
        assert [r.name for r in report.results] == [c for c in v.CHECKS if c != v.COMMITMENT]
    report = verify(env.alice)  # the bundle's own trust file, said so
    assert report.ok and "pass --trust" in report.get(v.TRUST_FILE).detail
    assert "1 countersigned by the recipient (1 retrieved)" in \
        report.get(v.COUNTERSIGNATURES).detail


@pytest.mark.parametrize("member", [fmt.GUIDE, fmt.TRUST, fmt.CHECKPOINT, fmt.EVIDENCES,
                                   fmt.INCLUSION, fmt.PARTIES, fmt.MANIFEST, fmt.MANIFEST_SIG])
def test_any_flipped_byte_of_any_file_is_caught(env: Env, member: str, tmp_path: Path) -> None:
    members = _members(env.alice)
    data = members[member]
    rng = random.Random(member)
    sample = rng.sample(range(len(data)), min(40, len(data)))
    positions = sorted({0, len(data) - 1, len(data) // 2, *sample})
    # A file's own integrity check: the manifest's hashes, or the signature over the manifest.
    named = v.MANIFEST_SIGNATURE if member in (fmt.MANIFEST, fmt.MANIFEST_SIG) else v.MANIFEST
    semantic = {fmt.EVIDENCES: {v.SIGNATURES, v.COUNTERSIGNATURES, v.INCLUSION,
                                v.EVIDENCE_ORDER, v.CHAINS, v.SELECTION},
                fmt.INCLUSION: {v.INCLUSION, v.EVIDENCE_ORDER},
                fmt.CHECKPOINT: {v.CHECKPOINT_SIGNATURE, v.COSIGNATURES, v.INCLUSION}}
    for at in positions:
        tampered = bytearray(data)
        tampered[at] ^= 0x01
        members[member] = bytes(tampered)
        report = verify(_write(tmp_path / "t.zip", members), trust_file=env.trust)
        assert not report.ok and named in report.failed(), (member, at, report.lines())
        if member in semantic:  # and when the attacker re-hashes the manifest as well:
            report = verify(_write(tmp_path / "r.zip", members, rehash=True),
                            trust_file=env.trust)
            failed = set(report.failed())
            assert v.MANIFEST_SIGNATURE in failed and failed & semantic[member], (
                member, at, report.lines())
    members[member] = data


def test_a_dropped_evidence_is_caught(env: Env, tmp_path: Path) -> None:
    members = _members(env.alice)
    evidences, proofs = _lines(members[fmt.EVIDENCES]), _lines(members[fmt.INCLUSION])
    for drop in (1, len(evidences) - 1):  # the middle of a chain, the retrieval at the end
        members[fmt.EVIDENCES] = b"".join(evidences[:drop] + evidences[drop + 1:])
        members[fmt.INCLUSION] = b"".join(proofs[:drop] + proofs[drop + 1:])
        report = verify(_write(tmp_path / "d.zip", members), trust_file=env.trust)
        assert {v.MANIFEST, v.EVIDENCE_COUNT} <= set(report.failed())
        assert "4 evidences, the manifest says 5" in report.get(v.EVIDENCE_COUNT).detail
        report = verify(_write(tmp_path / "d2.zip", members, rehash=True), trust_file=env.trust)
        assert v.MANIFEST_SIGNATURE in report.failed()
        if drop == 1:
            assert v.CHAINS in report.failed()
    members = _members(env.alice)  # an inclusion line alone goes missing
    members[fmt.INCLUSION] = b"".join(_lines(members[fmt.INCLUSION])[:-1])
    report = verify(_write(tmp_path / "p.zip", members, rehash=True), trust_file=env.trust)
    assert {v.INCLUSION, v.EVIDENCE_ORDER} <= set(report.failed())


def test_reordered_evidences_are_caught(env: Env, tmp_path: Path) -> None:
    members = _members(env.alice)
    evidences, proofs = _lines(members[fmt.EVIDENCES]), _lines(members[fmt.INCLUSION])
    evidences[1], evidences[2] = evidences[2], evidences[1]
    proofs[1], proofs[2] = proofs[2], proofs[1]
    members[fmt.EVIDENCES], members[fmt.INCLUSION] = b"".join(evidences), b"".join(proofs)
    report = verify(_write(tmp_path / "o.zip", members, rehash=True), trust_file=env.trust)
    assert v.EVIDENCE_ORDER in report.failed() and "not in log order" in \
        report.get(v.EVIDENCE_ORDER).detail
    assert report.get(v.SIGNATURES).ok and report.get(v.INCLUSION).ok  # each line is genuine


def test_an_evidence_swapped_in_from_another_bundle_is_caught(env: Env, tmp_path: Path) -> None:
    members, other = _members(env.one), _members(env.two)
    evidences, proofs = _lines(members[fmt.EVIDENCES]), _lines(members[fmt.INCLUSION])
    evidences[1], proofs[1] = _lines(other[fmt.EVIDENCES])[1], _lines(other[fmt.INCLUSION])[1]
    members[fmt.EVIDENCES], members[fmt.INCLUSION] = b"".join(evidences), b"".join(proofs)
    report = verify(_write(tmp_path / "s.zip", members), trust_file=env.trust)
    assert v.MANIFEST in report.failed()
    report = verify(_write(tmp_path / "s2.zip", members, rehash=True), trust_file=env.trust)
    assert {v.SELECTION, v.CHAINS, v.MANIFEST_SIGNATURE} <= set(report.failed())
    assert "not " + env.world.docs["one"] in report.get(v.SELECTION).detail


def test_a_forked_checkpoint_is_caught_by_its_missing_cosignatures(env: Env, tmp_path: Path
                                                                  ) -> None:
    """Same keys, another history: every signature and proof is genuine, but no witness
    cosigned that checkpoint, and cosignature lines copied from the real one do not verify."""
    report = verify(env.forked, trust_file=env.trust)
    assert report.failed() == [v.COSIGNATURES], report.lines()
    assert "0 valid witness cosignatures, the trust file requires 1" in \
        report.get(v.COSIGNATURES).detail
    members = _members(env.forked)
    genuine = _members(env.one)[fmt.CHECKPOINT].decode()
    witness_line = next(line for line in genuine.split("\n") if "witness.example" in line)
    members[fmt.CHECKPOINT] += (witness_line + "\n").encode()
    report = verify(_write(tmp_path / "f.zip", members, rehash=True), trust_file=env.trust)
    assert v.COSIGNATURES in report.failed()
    assert "invalid signature for key witness.example" in report.get(v.COSIGNATURES).detail
    members = _members(env.one)  # the real bundle, its checkpoint replaced by the fork's
    members[fmt.CHECKPOINT] = _members(env.forked)[fmt.CHECKPOINT]
    report = verify(_write(tmp_path / "g.zip", members, rehash=True), trust_file=env.trust)
    assert {v.CHECKPOINT_SIGNATURE, v.COSIGNATURES, v.INCLUSION} <= set(report.failed())


def test_the_document_commitment_is_checked_against_a_plaintext(env: Env, tmp_path: Path
                                                                ) -> None:
    letter, other = tmp_path / "letter.pdf", tmp_path / "other.pdf"
    letter.write_bytes(env.world.plaintexts["one"])
    other.write_bytes(env.world.plaintexts["two"])
    report = verify(env.one, trust_file=env.trust, document=letter, salt=env.salt)
    assert report.ok, report.lines()
    assert "submission_accepted" in report.get(v.COMMITMENT).detail
    report = verify(env.one, trust_file=env.trust, document=other, salt=env.salt)
    assert report.failed() == [v.COMMITMENT]
    assert verify(env.one, document=letter).failed() == [v.COMMITMENT]  # no salt given
    with_salts = tmp_path / "salted.zip"
    selection = export.select_evidence(env.world.pb, document=env.world.docs["one"])
    with open(with_salts, "wb") as fh:
        export.export_bundle(env.world.pb, selection, fh,
                             salts={env.world.docs["one"]: env.salt})
    assert verify(with_salts, trust_file=env.trust, document=letter).ok


def test_corrupt_zips_and_foreign_trust_never_pass_or_crash(env: Env, tmp_path: Path) -> None:
    raw = bytearray(env.alice.read_bytes())
    with zipfile.ZipFile(env.alice) as zf:
        infos = zf.infolist()
    for info in infos:  # a flipped byte inside each member's compressed data: CRC or inflate
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        broken = bytearray(raw)
        broken[start + info.compress_size // 2] ^= 0x10
        path = tmp_path / "c.zip"
        path.write_bytes(bytes(broken))
        report = verify(path, trust_file=env.trust)
        assert not report.ok, info.filename
    for junk in (b"", b"not a zip", raw[: len(raw) // 2]):
        (tmp_path / "j.zip").write_bytes(bytes(junk))
        assert verify(tmp_path / "j.zip").failed()[0] == v.MANIFEST
    signer, verifier = generate_signer("127.0.0.1:8000/postbox-evidence")
    public = bytes(range(32))
    (tmp_path / "foreign.json").write_bytes(dump_trust(
        "127.0.0.1:8000/postbox-evidence", [verifier],
        [EvidenceKey(key_id(public), public, START, None)], [], 0, "https://elsewhere"))
    report = verify(env.one, trust_file=tmp_path / "foreign.json")
    assert {v.MANIFEST_SIGNATURE, v.CHECKPOINT_SIGNATURE, v.SIGNATURES} <= set(report.failed())
    assert "which the trust file does not list" in report.get(v.SIGNATURES).detail


def test_the_process_pool_reports_exactly_what_one_process_does(env: Env, tmp_path: Path
                                                                ) -> None:
    members = _members(env.alice)
    evidences = _lines(members[fmt.EVIDENCES])
    at = next(i for i, line in enumerate(evidences) if b"ContentHandover" in line)
    evidences[at] = evidences[at].replace(b"ContentHandover", b"ContentHandoveR")
    members[fmt.EVIDENCES] = b"".join(evidences)
    tampered = _write(tmp_path / "t.zip", members, rehash=True)
    for path in (env.alice, tampered):
        alone = v.verify_bundle(path, trust_file=env.trust, jobs=1)
        pooled = v.verify_bundle(path, trust_file=env.trust, jobs=2, chunk_lines=2)
        assert pooled.lines() == alone.lines()
    assert v.SIGNATURES in pooled.failed() and v.COUNTERSIGNATURES in pooled.failed()


def test_cli_verify_prints_one_line_per_check_and_exits_by_result(env: Env, tmp_path: Path
                                                                  ) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["proofs", "verify", str(env.one), "--trust", str(env.trust),
                              "--jobs", "1"])
    assert ok.exit_code == 0, ok.output
    lines = ok.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [
        f"PASS  {c}" for c in v.CHECKS if c != v.COMMITMENT]
    assert lines[-1] == "OK: all 12 checks passed"
    members = _members(env.one)
    members[fmt.EVIDENCES] = members[fmt.EVIDENCES].replace(b"ContentConsignment",
                                                            b"ContentConsignmenT", 1)
    bad = runner.invoke(main, ["proofs", "verify", str(_write(tmp_path / "x.zip", members)),
                               "--trust", str(env.trust)])
    assert bad.exit_code == 1
    assert "FAIL  manifest: evidences.jsonl: SHA-256" in bad.stdout
    assert "FAIL  evidence signatures: leaf" in bad.stdout
    assert bad.stdout.strip().splitlines()[-1] == (
        "FAILED: 4 of 12 checks failed (manifest, evidence signatures, inclusion proofs, "
        "prev chains)")
    salt = fmt.b64(env.salt)
    letter = tmp_path / "l.pdf"
    letter.write_bytes(env.world.plaintexts["one"])
    doc = runner.invoke(main, ["proofs", "verify", str(env.one), "--document", str(letter),
                               "--salt", salt])
    assert doc.exit_code == 0 and "PASS  document commitment" in doc.stdout
    assert runner.invoke(main, ["proofs", "verify", str(env.one), "--salt", "%%%"]
                         ).exit_code == 2
