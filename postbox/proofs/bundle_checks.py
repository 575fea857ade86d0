"""Whole-bundle checks: the zip and its manifest, the trust file, the manifest signature, the
checkpoint's log signature and its witness cosignatures."""
from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crypto.errors import CryptoError
from crypto.note import (
    Checkpoint,
    NoteError,
    open_checkpoint,
    open_note,
    parse_checkpoint,
)
from crypto.signing import verify
from postbox.proofs import format as fmt
from postbox.proofs.report import (
    CHECKPOINT_SIGNATURE,
    COSIGNATURES,
    MANIFEST,
    MANIFEST_SIGNATURE,
    TRUST_FILE,
    CheckResult,
)
from postbox.proofs.trustfile import Trust, TrustError, parse_trust

CHUNK_LINES = 2000
ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError, zlib.error, fmt.BundleFormatError)


class Bundle:
    def __init__(self, zf: zipfile.ZipFile, chunk_lines: int = CHUNK_LINES) -> None:
        self.zf, self.chunk_lines = zf, max(1, chunk_lines)
        self.names = [i.filename for i in zf.infolist()]

    def read(self, name: str, limit: int = 16 << 20) -> bytes | None:
        if name not in self.names:
            return None
        with self.zf.open(name) as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise fmt.BundleFormatError(f"{name} is larger than {limit} bytes")
        return data

    def lines(self, name: str) -> Iterator[bytes]:
        """The member's lines (each with its newline; the last may lack one), read in blocks:
        much faster than readline on a zip stream, and no line may pass 1 MiB."""
        if name not in self.names:
            return
        rest = b""
        with self.zf.open(name) as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                lines = (rest + block).split(b"\n")
                rest = lines.pop()
                if len(rest) > fmt.MAX_LINE:
                    raise fmt.BundleFormatError(f"a line of {name} is longer than 1 MiB")
                for line in lines:
                    if len(line) >= fmt.MAX_LINE:
                        raise fmt.BundleFormatError(f"a line of {name} is longer than 1 MiB")
                    yield line + b"\n"
        if rest:
            yield rest


def _sha256_of(bundle: Bundle, name: str) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with bundle.zf.open(name) as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def check_manifest(bundle: Bundle) -> tuple[CheckResult, dict[str, Any] | None, bytes | None]:
    try:
        raw = bundle.read(fmt.MANIFEST)
        if raw is None:
            return CheckResult(MANIFEST, False, "manifest.json is missing"), None, None
        manifest = json.loads(raw)
        if not isinstance(manifest, dict) or manifest.get("format") != fmt.FORMAT:
            return CheckResult(MANIFEST, False, f"manifest.json is not {fmt.FORMAT}"), None, raw
        files = manifest.get("files")
        if not isinstance(files, dict):
            return CheckResult(MANIFEST, False, "manifest.json lists no files"), manifest, raw
    except (ValueError, UnicodeError, *ZIP_ERRORS) as exc:
        return CheckResult(MANIFEST, False, f"manifest.json is unreadable: {exc}"), None, None
    problems = []
    if len(set(bundle.names)) != len(bundle.names):
        problems.append("the zip holds two members with the same name")
    for name in fmt.REQUIRED_FILES:
        if name not in files:
            problems.append(f"{name} is not listed")
    for name, info in sorted(files.items()):
        if name not in bundle.names:
            problems.append(f"{name} is missing")
            continue
        try:
            digest, size = _sha256_of(bundle, name)
        except ZIP_ERRORS as exc:
            problems.append(f"{name} is corrupt in the zip ({exc})")
            continue
        if not isinstance(info, dict) or info.get("sha256") != digest:
            problems.append(f"{name}: SHA-256 {digest[:16]}... differs from the manifest")
        elif info.get("size") != size:
            problems.append(f"{name}: {size} bytes, the manifest says {info.get('size')}")
    for name in bundle.names:
        if name not in files and name not in (fmt.MANIFEST, fmt.MANIFEST_SIG):
            problems.append(f"{name} is not in the manifest")
    if problems:
        return CheckResult(MANIFEST, False, "; ".join(problems)), manifest, raw
    return (CheckResult(MANIFEST, True, f"{len(files)} files, every SHA-256 and size matches"),
            manifest, raw)


def check_trust(bundle: Bundle, trust_file: Path | None) -> tuple[CheckResult, Trust | None]:
    try:
        inside = bundle.read(fmt.TRUST)
    except ZIP_ERRORS:
        inside = None
    if trust_file is not None:
        try:
            trust = parse_trust(trust_file.read_bytes())
        except OSError as exc:
            return CheckResult(TRUST_FILE, False, f"cannot read {trust_file}: {exc}"), None
        except TrustError as exc:
            return CheckResult(TRUST_FILE, False, f"{trust_file}: {exc}"), None
        same = inside is not None and hashlib.sha256(inside).hexdigest() == trust.sha256
        note = "the bundle's copy is identical" if same else "the bundle's copy is ignored"
        detail = (f"{trust_file} ({len(trust.evidence_keys)} evidence keys, "
                  f"{len(trust.witnesses)} witnesses); {note}")
        return CheckResult(TRUST_FILE, True, detail), trust
    if inside is None:
        return CheckResult(TRUST_FILE, False, "trust.json is missing; pass --trust"), None
    try:
        trust = parse_trust(inside)
    except TrustError as exc:
        return CheckResult(TRUST_FILE, False, f"trust.json: {exc}"), None
    return CheckResult(TRUST_FILE, True, f"the bundle's own trust.json ({len(trust.evidence_keys)} "
                                         f"evidence keys, {len(trust.witnesses)} witnesses); "
                                         "pass --trust to use a copy you trust"), trust


def check_manifest_signature(bundle: Bundle, manifest: dict[str, Any] | None,
                              raw: bytes | None, trust: Trust | None) -> CheckResult:
    try:
        if raw is None or manifest is None:
            raise ValueError("no readable manifest")
        if trust is None:
            raise ValueError("no trust file")
        sig = bundle.read(fmt.MANIFEST_SIG, 1024)
        if sig is None:
            raise ValueError("manifest.sig is missing")
        key = trust.evidence_keys.get(str(manifest.get("key_id")))
        if key is None:
            raise ValueError(f"signed with key {manifest.get('key_id')!r}, not in the trust file")
        created = fmt.parse_stamp(manifest.get("created"))
        if not key.valid_at(created):
            raise ValueError(f"key {key.key_id} was not valid at {fmt.stamp(created)} "
                             f"(valid {key.period()})")
        signature = fmt.unb64(sig.decode("ascii", "replace").removesuffix("\n"), "manifest.sig")
        if sig != fmt.b64(signature).encode() + b"\n":  # one spelling: every byte counts
            raise ValueError("manifest.sig is not one canonical base64 line")
        verify(raw, signature, key.public_key, fmt.MANIFEST_CONTEXT)
    except (ValueError, CryptoError, *ZIP_ERRORS) as exc:
        return CheckResult(MANIFEST_SIGNATURE, False, str(exc))
    return CheckResult(MANIFEST_SIGNATURE, True, f"by evidence key {key.key_id}, valid at "
                                                 f"{fmt.stamp(created)}")


def check_checkpoint(bundle: Bundle, manifest: dict[str, Any] | None, trust: Trust | None
                      ) -> tuple[CheckResult, CheckResult, Checkpoint | None]:
    """The log's signature, then the witnesses' cosignatures; and the checkpoint to prove
    against (even an unsigned one, so a bad root also fails the inclusion proofs)."""
    try:
        note = bundle.read(fmt.CHECKPOINT, 1 << 20)
    except ZIP_ERRORS as exc:
        note = None
        missing = f"checkpoint.txt is unreadable: {exc}"
    else:
        missing = "checkpoint.txt is missing"
    if note is None:
        return (CheckResult(CHECKPOINT_SIGNATURE, False, missing),
                CheckResult(COSIGNATURES, False, missing), None)
    checkpoint = _parse_unsigned(note)
    if trust is None:
        fail = "no trust file to check it with"
        return (CheckResult(CHECKPOINT_SIGNATURE, False, fail),
                CheckResult(COSIGNATURES, False, fail), checkpoint)
    signed = None
    problem = "not signed by a log key in the trust file"
    for verifier in trust.log_keys:
        try:
            signed, _ = open_checkpoint(note, verifier)
            break
        except NoteError as exc:
            problem = str(exc)
    if signed is None:
        sig = CheckResult(CHECKPOINT_SIGNATURE, False, problem)
    elif signed.origin != trust.origin:
        sig = CheckResult(CHECKPOINT_SIGNATURE, False, f"origin {signed.origin} is not "
                                                       f"{trust.origin}")
    elif not _manifest_names(manifest, signed):
        sig = CheckResult(CHECKPOINT_SIGNATURE, False,
                          "checkpoint.txt is not the checkpoint the manifest names")
    else:
        sig = CheckResult(CHECKPOINT_SIGNATURE, True, f"{signed.origin}, tree size {signed.size},"
                                                      f" root {fmt.b64(signed.root)}")
    return sig, _check_cosignatures(note, trust), checkpoint


def _parse_unsigned(note: bytes) -> Checkpoint | None:
    try:
        text = note.decode("utf-8")
        return parse_checkpoint(text[: text.index("\n\n") + 1])
    except (ValueError, UnicodeError, NoteError):
        return None


def _manifest_names(manifest: dict[str, Any] | None, checkpoint: Checkpoint) -> bool:
    if manifest is None:
        return False
    named = manifest.get("checkpoint")
    return isinstance(named, dict) and named.get("size") == checkpoint.size and \
        named.get("root") == fmt.b64(checkpoint.root)


def _check_cosignatures(note: bytes, trust: Trust) -> CheckResult:
    witnesses = list(trust.witnesses)
    try:
        opened = open_note(note, [*trust.log_keys, *witnesses]) if witnesses else None
    except NoteError as exc:
        return CheckResult(COSIGNATURES, False, str(exc))
    cosigs = opened.cosignatures if opened is not None else ()
    names = ", ".join(f"{c.name} at {fmt.stamp(datetime.fromtimestamp(c.timestamp, tz=UTC))}"
                      for c in cosigs)
    if len(cosigs) < trust.cosignatures_required:
        return CheckResult(COSIGNATURES, False, f"{len(cosigs)} valid witness cosignatures, the "
                                                f"trust file requires "
                                                f"{trust.cosignatures_required}")
    if not cosigs:
        return CheckResult(COSIGNATURES, True, "none, and the trust file requires none")
    return CheckResult(COSIGNATURES, True, f"{len(cosigs)} of {trust.cosignatures_required} "
                                           f"required: {names}")
