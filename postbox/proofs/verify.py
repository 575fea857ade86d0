"""Offline verification of a proof bundle: no server, no database, one line per check.

Imports only the standard library, crypto/ and the bundle format, so it runs anywhere the
bundle and a trust file are. Every check runs even when an earlier one failed, so a report
names each thing that is wrong; each check has a fixed name (``CHECKS``).

Threat model: the bundle is hostile. It may be truncated, reordered, padded, re-zipped, or
assembled from pieces of other bundles; its own trust file may be forged (pass ``--trust``).
Nothing in it is believed before its check: a malformed line is a failure of that check, never
a crash. The per-evidence work (Ed25519 signatures, inclusion proofs) runs in a process pool so
100,000 evidences verify in seconds on two cores.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import zipfile
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from postbox.proofs import format as fmt
from postbox.proofs.bundle_checks import (
    CHUNK_LINES,
    ZIP_ERRORS,
    Bundle,
    check_checkpoint,
    check_manifest,
    check_manifest_signature,
    check_trust,
)
from postbox.proofs.evidence_checks import (
    ChunkResult,
    Context,
    Row,
    Worker,
    check_chunk,
    check_chunk_in_worker,
    init_worker,
)
from postbox.proofs.report import (  # noqa: F401 - the check names are this module's API
    CHAINS,
    CHECKPOINT_SIGNATURE,
    CHECKS,
    COMMITMENT,
    COSIGNATURES,
    COUNTERSIGNATURES,
    EVIDENCE_COUNT,
    EVIDENCE_ORDER,
    INCLUSION,
    MANIFEST,
    MANIFEST_SIGNATURE,
    SELECTION,
    SIGNATURES,
    TRUST_FILE,
    CheckResult,
    Failures,
    Report,
)
from postbox.proofs.trustfile import Trust

MAX_MEMBERS = 64


# -- sequential checks over all rows ---------------------------------------------------------

class _Sequence:
    """Order, selection and prev-chain checks, fed rows in bundle order."""

    def __init__(self, selection: dict[str, Any] | None) -> None:
        self.selection = selection if isinstance(selection, dict) else None
        self.last_leaf: int | None = None
        self.order = Failures()
        self.select = Failures()
        self.chains = Failures()
        self.heads: dict[str, tuple[str, str]] = {}  # document -> (record hash, time)
        self.links = 0
        self.count = 0
        self.commitments: dict[str, set[str]] = {}
        self.events: dict[str, list[str]] = {}

    def feed(self, row: Row, want_commitments: bool) -> None:
        self.count += 1
        where = f"leaf {row.leaf_index}" if row.leaf_index is not None else \
            f"line {row.position + 1}"
        if row.leaf_index is None or row.inclusion_index != row.leaf_index:
            self.order.add(f"{where}: the evidence and inclusion lines do not pair up")
        if row.leaf_index is not None:
            if self.last_leaf is not None and row.leaf_index <= self.last_leaf:
                self.order.add(f"leaf {row.leaf_index} comes after leaf {self.last_leaf}: "
                               "not in log order")
            self.last_leaf = row.leaf_index
        self._selection(row, where)
        self._chain(row, where)
        if want_commitments and row.document and row.commitment:
            self.commitments.setdefault(row.document, set()).add(row.commitment)
            self.events.setdefault(row.document, []).append(row.event or "?")

    def _selection(self, row: Row, where: str) -> None:
        sel = self.selection
        if sel is None:
            return
        org = sel.get("org")
        if org is not None and row.org != org:
            self.select.add(f"{where}: from organisation {row.org}, the bundle is for {org}")
        if sel.get("document") is not None and row.document != sel["document"]:
            self.select.add(f"{where}: about document {row.document}, not {sel['document']}")
        if sel.get("recipient") is not None and row.recipient != sel["recipient"]:
            self.select.add(f"{where}: for recipient {row.recipient}, not {sel['recipient']}")

    def _chain(self, row: Row, where: str) -> None:
        if row.document is None or row.record_hash is None:
            return
        head = self.heads.get(row.document)
        if head is None:
            if row.prev is not None:
                self.chains.add(f"{where}: document {row.document[:12]}'s first record here "
                                f"points to {row.prev[:12]}..., which is not in the bundle")
        elif row.prev != head[0]:
            self.chains.add(f"{where}: prev {str(row.prev)[:12]}... is not the document's "
                            f"previous record {head[0][:12]}... (missing, extra or forked)")
        else:
            self.links += 1
            if row.time is not None and head[1] is not None and row.time < head[1]:
                self.chains.add(f"{where}: time {row.time} is before its prev ({head[1]})")
        self.heads[row.document] = (row.record_hash, row.time or "")


def verify_bundle(path: Path, *, trust_file: Path | None = None, document: Path | None = None,
                  salt: bytes | None = None, jobs: int | None = None,
                  chunk_lines: int = CHUNK_LINES) -> Report:
    """Run every check on the bundle at ``path``; see ``CHECKS``. ``jobs`` processes share
    the per-evidence work (default: one per core) in chunks of ``chunk_lines`` evidences."""
    report = Report()
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        report.results.append(CheckResult(MANIFEST, False, f"not a readable zip: {exc}"))
        return report
    with zf:
        if len(zf.infolist()) > MAX_MEMBERS:
            report.results.append(CheckResult(MANIFEST, False, "too many files in the zip"))
            return report
        _verify(Bundle(zf, chunk_lines), report, trust_file, document, salt, jobs)
    return report


def _verify(bundle: Bundle, report: Report, trust_file: Path | None, document: Path | None,
            salt: bytes | None, jobs: int | None) -> None:
    manifest_result, manifest, raw = check_manifest(bundle)
    trust_result, trust = check_trust(bundle, trust_file)
    report.results += [manifest_result, check_manifest_signature(bundle, manifest, raw, trust),
                       trust_result]
    sig, cosig, checkpoint = check_checkpoint(bundle, manifest, trust)
    report.results += [sig, cosig]
    ctx = Context(dict(trust.evidence_keys) if trust else {},
                   checkpoint.size if checkpoint else None, checkpoint.root if checkpoint else None)
    seq = _Sequence(manifest.get("selection") if manifest else None)
    totals = ChunkResult([], {SIGNATURES: Failures(), COUNTERSIGNATURES: Failures(),
                               INCLUSION: Failures()})
    extra = Failures()
    try:
        for result in _run(bundle, ctx, jobs, extra):
            for row in result.rows:
                seq.feed(row, document is not None)
            for name, failures in result.failures.items():
                totals.failures[name].merge(failures)
            totals.signed += result.signed
            totals.retrieved += result.retrieved
            totals.countersigned += result.countersigned
            totals.included += result.included
    except ZIP_ERRORS as exc:
        extra.add(f"evidence files unreadable: {exc}")
    report.results += _evidence_results(bundle, manifest, seq, totals, extra, trust)
    if document is not None:
        report.results.append(_check_commitment(bundle, document, salt, seq))


def _pairs(bundle: Bundle, extra: Failures) -> Iterator[tuple[bytes, bytes | None]]:
    evidences, proofs = bundle.lines(fmt.EVIDENCES), bundle.lines(fmt.INCLUSION)
    for ev in evidences:
        yield ev, next(proofs, None)
    left = sum(1 for _ in proofs)
    if left:
        extra.add(f"inclusion.jsonl has {left} more lines than evidences.jsonl")


def _chunks(bundle: Bundle, extra: Failures) -> Iterator[tuple[int, list[Any]]]:
    chunk: list[tuple[bytes, bytes | None]] = []
    start = 0
    for pair in _pairs(bundle, extra):
        chunk.append(pair)
        if len(chunk) == bundle.chunk_lines:
            yield start, chunk
            start += len(chunk)
            chunk = []
    if chunk:
        yield start, chunk


def _run(bundle: Bundle, ctx: Context, jobs: int | None, extra: Failures
         ) -> Iterator[ChunkResult]:
    chunks = _chunks(bundle, extra)
    first = next(chunks, None)
    if first is None:
        return
    second = next(chunks, None)
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    if second is None or workers <= 1:  # small bundle: no pool to start
        alone = Worker(ctx)
        yield check_chunk(alone, *first)
        if second is not None:
            yield check_chunk(alone, *second)
            for start, chunk in chunks:
                yield check_chunk(alone, start, chunk)
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context(method),
            initializer=init_worker, initargs=(ctx,)) as pool:
        pending: deque[concurrent.futures.Future[ChunkResult]] = deque()
        for start, chunk in _chain_iter(first, second, chunks):
            pending.append(pool.submit(check_chunk_in_worker, start, chunk))
            if len(pending) >= 2 * workers:  # bounded: memory stays flat
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _chain_iter(*parts: Any) -> Iterator[Any]:
    yield parts[0]
    yield parts[1]
    yield from parts[2]


def _evidence_results(bundle: Bundle, manifest: dict[str, Any] | None, seq: _Sequence,
                      totals: ChunkResult, extra: Failures, trust: Trust | None
                      ) -> list[CheckResult]:
    n = seq.count
    expected = manifest.get("evidence_count") if manifest else None
    if extra.count:
        count = CheckResult(EVIDENCE_COUNT, False, extra.describe())
    elif fmt.EVIDENCES not in bundle.names:
        count = CheckResult(EVIDENCE_COUNT, False, "evidences.jsonl is missing")
    elif expected != n:
        count = CheckResult(EVIDENCE_COUNT, False, f"{n} evidences, the manifest says {expected}")
    elif n == 0:
        count = CheckResult(EVIDENCE_COUNT, False, "the bundle holds no evidence")
    else:
        count = CheckResult(EVIDENCE_COUNT, True, f"{n} evidences, as the manifest says")
    results = [count]
    results.append(_from(EVIDENCE_ORDER, seq.order, f"{n} evidences in increasing log order"))
    results.append(_from(SELECTION, seq.select if manifest else _one("no readable manifest"),
                         f"every evidence matches {json.dumps(seq.selection, sort_keys=True)}"))
    keys = ", ".join(sorted(trust.evidence_keys)) if trust else ""
    results.append(_from(SIGNATURES, totals.failures[SIGNATURES],
                         f"{totals.signed} of {n} signed by a trusted key valid at the "
                         f"evidence's time ({keys})"))
    results.append(_from(COUNTERSIGNATURES, totals.failures[COUNTERSIGNATURES],
                         f"{totals.countersigned} countersigned by the recipient "
                         f"({totals.retrieved} retrieved)"))
    results.append(_from(INCLUSION, totals.failures[INCLUSION],
                         f"{totals.included} of {n} in the checkpoint's tree"))
    results.append(_from(CHAINS, seq.chains, f"{len(seq.heads)} documents, {seq.links} links, "
                                             "each from its first record, no gap or fork"))
    return results


def _one(message: str) -> Failures:
    f = Failures()
    f.add(message)
    return f


def _from(name: str, failures: Failures, ok_detail: str) -> CheckResult:
    if failures.count:
        return CheckResult(name, False, failures.describe())
    return CheckResult(name, True, ok_detail)


def _check_commitment(bundle: Bundle, document: Path, salt: bytes | None,
                      seq: _Sequence) -> CheckResult:
    salts: dict[str | None, bytes] = {}
    if salt is not None:
        salts[None] = salt
    else:
        try:
            raw = bundle.read(fmt.SALTS)
            for doc, value in (json.loads(raw) if raw else {}).items():
                salts[doc] = fmt.unb64(value, "salt")
        except (ValueError, AttributeError, *ZIP_ERRORS) as exc:
            return CheckResult(COMMITMENT, False, f"salts.json is unreadable: {exc}")
    if not salts:
        return CheckResult(COMMITMENT, False, "no commitment salt: pass --salt (the recipient "
                                              "can show it), or use a bundle with salts.json")
    try:
        with open(document, "rb") as fh:
            found = _match(fh, salts, seq)
    except OSError as exc:
        return CheckResult(COMMITMENT, False, f"cannot read {document}: {exc}")
    if not found:
        return CheckResult(COMMITMENT, False, f"{document.name} does not match the content "
                                              "commitment of any document in the bundle")
    doc, events = found
    return CheckResult(COMMITMENT, True, f"{document.name} is the content committed to in the "
                                         f"evidence of document {doc} ({', '.join(events)})")


def _match(fh: IO[bytes], salts: dict[str | None, bytes], seq: _Sequence
           ) -> tuple[str, list[str]] | None:
    hashes = {key: hashlib.sha256(value) for key, value in salts.items()}
    for block in iter(lambda: fh.read(1 << 16), b""):
        for h in hashes.values():
            h.update(block)
    for key, h in hashes.items():
        digest = h.hexdigest()
        for doc, commitments in seq.commitments.items():
            if (key is None or key == doc) and digest in commitments:
                return doc, seq.events.get(doc, [])
    return None
