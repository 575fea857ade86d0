"""The invariants of issue 11, checked after every reliability scenario.

- I1 every committed document's blob exists and matches its recorded ciphertext hash; no blob
  is stored that nothing references and no delivery intent covers (``postbox.integrity``).
- I2 every item of a settled batch ends consigned, held, unreachable or rejected (consigned and
  held with their document, rejected with a reason).
- I3 every recipient gets exactly the notices the policy says (hook).
- I4 no canary (plaintext, PIN, TOTP secret, token) in any blob, file under the given folders
  (instance folder, temp and spool folders, log files, .eml files) or captured log text.
- I5 evidence verifies: service signatures, recipients' countersignatures, one linear ``prev``
  chain per document; checkpoint consistency joins once the Merkle log exists (hook).
- I6 the database integrity check passes (SQLite ``integrity_check`` and
  ``foreign_key_check``; on both engines every foreign key resolves, and the schema is at the
  migration head).

How other suites plug in: a check is ``Callable[[World], Iterable[Violation]]``. Register it on
the default set with the decorator, in a module named ``tests/reliability/checks_*.py`` (every
such module is imported by :func:`default_invariants`, so adding the file is enough)::

    # tests/reliability/checks_notices.py
    from tests.reliability.invariants import Violation, World, invariant

    @invariant("I3")
    def notices_match_policy(world: World):
        expected = world.extra.get("expected_notices")   # what the scenario put there
        ...
        yield Violation("I3", f"recipient {rid}: 2 notices with different Message-IDs")

or add it to one checker only: ``checker.add("I5", checkpoints_consistent)``. Scenarios pass
what a check needs in :class:`World` (``extra`` is free-form: batch ids, the SMTP sink, the
expected notice policy, the log's checkpoints).
"""
from __future__ import annotations

import base64
import hashlib
import importlib
import json
import pkgutil
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from crypto.errors import SignatureError
from crypto.signing import verify_countersignature, verify_evidence
from postbox.bootstrap import Postbox
from postbox.db import current_revision, head_revision
from postbox.integrity import check_storage
from postbox.models import (
    Base,
    Batch,
    BatchItem,
    Document,
    Evidence,
    Recipient,
    SigningKey,
)
from storage.base import BlobStore

NAMES = ("I1", "I2", "I3", "I4", "I5", "I6")
SCAN_PIECE = 1 << 20


@dataclass(frozen=True)
class Violation:
    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail}"


@dataclass
class World:
    """What the checks look at after a scenario."""

    pb: Postbox
    # The real store, bypassing any fault proxy (default: pb.store).
    store: BlobStore | None = None
    # I4: folders scanned recursively, canaries looked for (str or bytes), captured log text.
    folders: Sequence[Path] = ()
    canaries: Sequence[str | bytes] = ()
    logs: Sequence[str] = ()
    exclude: Sequence[Path] = ()  # files or folders I4 must not scan (e.g. key files)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def blobs(self) -> BlobStore:
        return self.store if self.store is not None else self.pb.store


Check = Callable[[World], Iterable[Violation]]


class Invariants:
    """A named set of checks; each invariant may have several (or, as a hook, none yet)."""

    def __init__(self) -> None:
        self._checks: dict[str, list[Check]] = {name: [] for name in NAMES}

    def add(self, name: str, check: Check) -> Check:
        self._checks.setdefault(name, []).append(check)
        return check

    def checks(self, name: str) -> list[Check]:
        return list(self._checks.get(name, []))

    def copy(self) -> Invariants:
        other = Invariants()
        other._checks = {k: list(v) for k, v in self._checks.items()}
        return other

    def run(self, world: World, only: Iterable[str] | None = None) -> list[Violation]:
        wanted = set(only) if only is not None else set(self._checks)
        found: list[Violation] = []
        for name, checks in self._checks.items():
            if name not in wanted:
                continue
            for check in checks:
                try:
                    found.extend(check(world))
                except Exception as exc:  # noqa: BLE001 - a crashing check is a finding too
                    found.append(Violation(name, f"{check.__name__} crashed: "
                                                 f"{type(exc).__name__}: {exc}"))
        return found

    def assert_holds(self, world: World, only: Iterable[str] | None = None,
                     context: str = "") -> None:
        found = self.run(world, only)
        if found:
            lines = "\n  ".join(str(v) for v in found[:50])
            more = f"\n  ... and {len(found) - 50} more" if len(found) > 50 else ""
            raise AssertionError(f"invariants violated{' ' + context if context else ''}:"
                                 f"\n  {lines}{more}")


_DEFAULT = Invariants()
_PLUGINS_LOADED = False


def invariant(name: str) -> Callable[[Check], Check]:
    """Register a check on the default set (used by this module and ``checks_*.py``)."""
    def register(check: Check) -> Check:
        return _DEFAULT.add(name, check)
    return register


def default_invariants() -> Invariants:
    """A copy of the default set, after importing every ``tests/reliability/checks_*.py``."""
    global _PLUGINS_LOADED
    if not _PLUGINS_LOADED:
        _PLUGINS_LOADED = True
        here = Path(__file__).parent
        for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda i: i.name):
            if info.name.startswith("checks_"):
                importlib.import_module(f"{__package__}.{info.name}")
    return _DEFAULT.copy()


# -- I1 ---------------------------------------------------------------------------------------

@invariant("I1")
def blobs_match_documents(world: World) -> Iterator[Violation]:
    """Via ``postbox.integrity``: missing, corrupt, unreadable blobs and uncovered orphans."""
    pb = replace(world.pb, store=world.blobs)
    report = check_storage(pb)
    for doc in report.missing:
        yield Violation("I1", f"document {doc}: its blob is missing")
    for doc in report.corrupt:
        yield Violation("I1", f"document {doc}: blob size or SHA-256 differ from the record")
    for doc in report.unreadable:
        yield Violation("I1", f"document {doc}: blob unreadable")
    for key in report.orphans:
        yield Violation("I1", f"orphan blob {key}: stored, referenced by no document and "
                              "covered by no intent row, so the reaper will never remove it")


# -- I4 ---------------------------------------------------------------------------------------

def needles(canary: str | bytes) -> list[tuple[str, bytes]]:
    """The byte patterns a canary can leak as: raw UTF-8, UTF-16-LE, base64 (any alignment,
    for MIME bodies), hex."""
    raw = canary.encode() if isinstance(canary, str) else canary
    found = [("raw", raw)]
    if isinstance(canary, str):
        found.append(("utf-16", canary.encode("utf-16-le")))
    if len(raw) >= 12:
        for shift in range(3):
            enc = base64.b64encode(b"\0" * shift + raw)
            # Skip the characters that mix in the padding or the neighbours.
            start, stop = (shift * 4 + 2) // 3 + 1, len(enc) - 4
            if stop - start >= 8:
                found.append((f"base64/{shift}", enc[start:stop]))
        found.append(("hex", raw.hex().encode()))
    return found


def _scan(data_pieces: Iterable[bytes], patterns: list[tuple[str, str, bytes]]) -> set[str]:
    hits: set[str] = set()
    longest = max((len(p) for _, _, p in patterns), default=1)
    tail = b""
    for piece in data_pieces:
        window = tail + piece
        for label, kind, pattern in patterns:
            if pattern in window:
                hits.add(f"{label} ({kind})")
        tail = window[-(longest - 1):] if longest > 1 else b""
    return hits


def _file_pieces(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while piece := fh.read(SCAN_PIECE):
            yield piece


def _blob_pieces(store: BlobStore, key: str) -> Iterator[bytes]:
    with store.open(key) as fh:
        while piece := fh.read(SCAN_PIECE):
            yield piece


def _label(canary: str | bytes) -> str:
    shown = canary if isinstance(canary, str) else canary.decode(errors="replace")
    return repr(shown[:4] + "…")


@invariant("I4")
def no_canary_leaks(world: World) -> Iterator[Violation]:
    """No canary in any blob, any file under ``world.folders`` or the captured logs."""
    patterns = [(_label(c), kind, p) for c in world.canaries for kind, p in needles(c)]
    if not patterns:
        return
    for key in world.blobs.list(""):
        for hit in sorted(_scan(_blob_pieces(world.blobs, key), patterns)):
            yield Violation("I4", f"canary {hit} in blob {key}")
    excluded = [p.resolve() for p in world.exclude]
    for folder in world.folders:
        if not folder.exists():
            continue
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            resolved = path.resolve()
            if any(resolved == e or resolved.is_relative_to(e) for e in excluded):
                continue
            try:
                hits = _scan(_file_pieces(path), patterns)
            except OSError:
                continue  # vanished while we looked (a temp file): nothing to leak any more
            for hit in sorted(hits):
                yield Violation("I4", f"canary {hit} in file {path}")
    for n, record in enumerate(world.logs):
        for hit in sorted(_scan([record.encode("utf-8", "replace")], patterns)):
            shown = record
            for canary in world.canaries:  # the report must not repeat the secret
                if isinstance(canary, str):
                    shown = shown.replace(canary, "<canary>")
            yield Violation("I4", f"canary {hit} in log record #{n}: {shown[:120]!r}")


# -- I5 ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Record:
    id: str
    document_id: str | None
    recipient_id: str | None
    event: str
    created_at: Any
    body: bytes
    signature: bytes | None
    key_id: str | None
    countersignature: bytes | None
    prev_hash: str | None
    record_hash: str


def _public_keys(world: World, session: Any) -> dict[str, bytes]:
    keys = {k.key_id: k.public_key for k in session.scalars(select(SigningKey))}
    current = world.pb.keys.evidence_key
    if current is not None:
        keys.setdefault(current.key_id, current.public_key)
    keys.update(world.extra.get("trusted_evidence_keys", {}))
    return keys


def _check_record(row: _Record, keys: dict[str, bytes], recipients: dict[str, bytes],
                  docs: dict[str, str]) -> Iterator[str]:
    if hashlib.sha256(row.body).hexdigest() != row.record_hash:
        yield "record_hash is not the SHA-256 of the body"
    try:
        body = json.loads(row.body)
    except ValueError:
        yield "body is not JSON"
        return
    expect = {"id": row.id, "event": row.event, "document": row.document_id,
              "prev": row.prev_hash, "key_id": row.key_id, "recipient": row.recipient_id}
    for name, value in expect.items():
        if body.get(name) != value:
            yield f"body {name}={body.get(name)!r} but the row says {value!r}"
    public = keys.get(row.key_id or "")
    if public is None:
        yield f"signed with unknown key {row.key_id!r}"
    elif row.signature is None:
        yield "unsigned"
    else:
        try:
            verify_evidence(row.body, row.signature, public)
        except SignatureError:
            yield "service signature does not verify"
    if row.event == "retrieved" and row.countersignature is None:
        yield "retrieved without the recipient's countersignature"
    if row.countersignature is not None:
        recipient_key = recipients.get(row.recipient_id or "")
        if recipient_key is None:
            yield "countersigned, but the recipient is unknown"
        else:
            try:
                verify_countersignature(row.body, row.countersignature, recipient_key)
            except SignatureError:
                yield "recipient countersignature does not verify"
    recorded = docs.get(row.document_id or "")
    if recorded is not None and body.get("ciphertext_sha256") not in (None, recorded):
        yield "ciphertext_sha256 differs from the document's"


def _check_chain(rows: list[_Record]) -> Iterator[str]:
    by_hash = {r.record_hash: r for r in rows}
    heads = [r for r in rows if r.prev_hash is None]
    if len(heads) != 1:
        yield f"{len(heads)} chain heads (records without prev), expected 1"
    successors: dict[str, list[_Record]] = defaultdict(list)
    for r in rows:
        if r.prev_hash is not None:
            if r.prev_hash not in by_hash:
                yield f"record {r.id}: prev {r.prev_hash[:12]} is not a record of this document"
            successors[r.prev_hash].append(r)
    for prev, after in successors.items():
        if len(after) > 1:
            yield f"fork: {len(after)} records follow {prev[:12]}"
    if len(heads) == 1:
        seen, cursor = 0, heads[0]
        while cursor is not None and seen <= len(rows):
            seen += 1
            nxt = successors.get(cursor.record_hash, [])
            if nxt and nxt[0].created_at < cursor.created_at:
                yield f"record {nxt[0].id} is older than its prev"
            cursor = nxt[0] if nxt else None
        if seen != len(rows):
            yield f"chain reaches {seen} of {len(rows)} records"


@invariant("I5")
def evidence_verifies(world: World) -> Iterator[Violation]:
    with world.pb.uow() as uow:
        s = uow.session
        keys = _public_keys(world, s)
        recipients = dict(s.execute(select(Recipient.id, Recipient.ed25519_public)).all())
        docs = dict(s.execute(select(Document.id, Document.ciphertext_sha256)).all())
        # Plain copies: the unit of work expires ORM objects when it ends.
        rows = [_Record(**{c: getattr(r, c) for c in _Record.__annotations__})
                for r in s.scalars(select(Evidence))]
    chains: dict[str, list[_Record]] = defaultdict(list)
    for row in rows:
        for problem in _check_record(row, keys, recipients, docs):
            yield Violation("I5", f"evidence {row.id} ({row.event}): {problem}")
        if row.document_id is not None:
            chains[row.document_id].append(row)
    for doc, chain in chains.items():
        for problem in _check_chain(chain):
            yield Violation("I5", f"document {doc}: {problem}")
    for doc in docs:
        if doc not in chains:
            yield Violation("I5", f"document {doc} has no evidence at all")


# Checkpoint consistency (C2SP tlog-checkpoint, RFC 9162 consistency proofs) joins here once
# the evidence log exists: ``invariant("I5")(checkpoints_consistent)`` in a checks_*.py module.


# -- I6 ---------------------------------------------------------------------------------------

@invariant("I6")
def database_integrity(world: World) -> Iterator[Violation]:
    engine = world.pb.engine
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            result = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
            if result != ["ok"]:
                yield Violation("I6", f"PRAGMA integrity_check: {result[:5]}")
            for row in conn.exec_driver_sql("PRAGMA foreign_key_check"):
                yield Violation("I6", f"PRAGMA foreign_key_check: {tuple(row)}")
        else:
            invalid = conn.execute(text(
                "SELECT conrelid::regclass::text, conname FROM pg_constraint "
                "WHERE NOT convalidated")).all()
            for table, name in invalid:
                yield Violation("I6", f"constraint {name} on {table} is not validated")
        # Both engines: every foreign key resolves (cheap anti-joins over our tables).
        for table in Base.metadata.sorted_tables:
            for fk in table.foreign_keys:
                child, parent = fk.parent, fk.column
                orphans = conn.execute(
                    select(func.count()).select_from(
                        table.outerjoin(parent.table, child == parent))
                    .where(child.is_not(None), parent.is_(None))).scalar_one()
                if orphans:
                    yield Violation("I6", f"{orphans} rows of {table.name}.{child.name} point "
                                          f"to no {parent.table.name}.{parent.name}")
    current, head = current_revision(engine), head_revision()
    if current != head:
        yield Violation("I6", f"schema at revision {current}, code expects {head}")


# -- I2 ---------------------------------------------------------------------------------------

# Where a batch item may end, by the state of its batch once that batch is settled.
SETTLED_ITEM = {"delivered": {"consigned", "held", "unreachable", "rejected"},
                "cancelled": {"cancelled", "consigned", "held", "unreachable", "rejected"}}
NEEDS_DOCUMENT = ("consigned", "held")
NEEDS_REASON = ("rejected",)  # "unreachable" is its own reason: no postbox to put it in


@invariant("I2")
def batch_items_settled(world: World) -> Iterator[Violation]:
    """Every item of a settled batch (delivered or cancelled) ends consigned, held,
    unreachable or rejected (or cancelled, in a cancelled batch); consigned and held items
    have their document, rejected ones a reason. Batches a scenario names in
    ``world.extra["settled_batches"]`` must be settled; open ones are left alone otherwise."""
    must_settle = set(world.extra.get("settled_batches", ()))
    with world.pb.uow() as uow:
        s = uow.session
        states = dict(s.execute(select(Batch.id, Batch.state)).all())
        for batch_id in sorted(must_settle - set(states)):
            yield Violation("I2", f"batch {batch_id} does not exist")
        for batch_id, state in sorted(states.items()):
            if state not in SETTLED_ITEM:
                if batch_id in must_settle:
                    yield Violation("I2", f"batch {batch_id} is still {state}")
                continue
            rows = s.execute(select(BatchItem.seq, BatchItem.status, BatchItem.reason,
                                    BatchItem.document_id, Document.id)
                             .outerjoin(Document, Document.id == BatchItem.document_id)
                             .where(BatchItem.batch_id == batch_id)
                             .order_by(BatchItem.seq))
            for seq, status, reason, document_id, found in rows:
                where = f"batch {batch_id} ({state}) item {seq}"
                if status not in SETTLED_ITEM[state]:
                    yield Violation("I2", f"{where} ended {status!r}")
                elif status in NEEDS_DOCUMENT and (document_id is None or found is None):
                    yield Violation("I2", f"{where} is {status} without its document")
                elif status in NEEDS_REASON and not (reason or "").strip():
                    yield Violation("I2", f"{where} is {status} without a reason")


# -- I3: hook ---------------------------------------------------------------------------------
# Notices (I3) are proven in tests/notices; a checker joins with ``@invariant("I3")`` in
# tests/reliability/checks_*.py; until then I3 holds vacuously.
