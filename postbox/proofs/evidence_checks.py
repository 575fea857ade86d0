"""Per-evidence checks of a bundle, run in worker processes: signature with a key valid at
the evidence's time, the recipient's countersignature, the inclusion proof.

Each worker gets the trust keys and the checkpoint once (``init_worker``), then chunks of raw
line pairs; it returns compact rows for the sequential checks and the failures it found. Every
malformed line is a failure of the check that needed it, never an exception.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, NamedTuple

from crypto.errors import CryptoError
from crypto.inclusion import InclusionChecker
from crypto.merkle import record_hash
from crypto.signing import verify_countersignature, verify_evidence
from postbox.proofs import format as fmt
from postbox.proofs.report import COUNTERSIGNATURES, INCLUSION, SIGNATURES, Failures


@dataclass(frozen=True)
class Context:
    keys: dict[str, Any]  # key id -> trustfile.EvidenceKey
    size: int | None
    root: bytes | None


class Row(NamedTuple):
    """What the sequential checks need from one evidence (a tuple: cheap to pickle)."""

    position: int
    leaf_index: int | None
    inclusion_index: int | None
    id: str | None
    document: str | None
    recipient: str | None
    org: str | None
    event: str | None
    time: str | None
    prev: str | None
    record_hash: str | None
    commitment: str | None


@dataclass
class ChunkResult:
    rows: list[Row]
    failures: dict[str, Failures]
    signed: int = 0
    retrieved: int = 0
    countersigned: int = 0
    included: int = 0


class Worker:
    """Per-process state: the context, the memo of verified tree nodes, decoded hashes."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.checker = (InclusionChecker(ctx.size, ctx.root)
                        if ctx.size is not None and ctx.root is not None else None)
        self.hashes: dict[str, bytes] = {}

    def hash(self, text: Any) -> bytes:
        """A proof hash from canonical base64; the upper levels repeat, so decode once."""
        raw = self.hashes.get(text) if isinstance(text, str) else None
        if raw is None:
            raw = fmt.unb64(text, "proof hash")
            if len(self.hashes) > 200_000:
                self.hashes.clear()
            self.hashes[text] = raw
        return raw


_PROCESS: Worker | None = None


def init_worker(ctx: Context) -> None:
    global _PROCESS
    _PROCESS = Worker(ctx)


def check_chunk_in_worker(start: int, pairs: list[tuple[bytes, bytes | None]]) -> ChunkResult:
    assert _PROCESS is not None
    return check_chunk(_PROCESS, start, pairs)


def check_chunk(worker: Worker, start: int,
                 pairs: list[tuple[bytes, bytes | None]]) -> ChunkResult:
    out = ChunkResult([], {SIGNATURES: Failures(), COUNTERSIGNATURES: Failures(),
                            INCLUSION: Failures()})
    for offset, (ev_line, inc_line) in enumerate(pairs):
        out.rows.append(_check_one(worker, start + offset, ev_line, inc_line, out))
    return out


def _check_one(worker: Worker, position: int, ev_line: bytes, inc_line: bytes | None,
               out: ChunkResult) -> Row:
    ctx = worker.ctx
    where = f"line {position + 1}"
    leaf_index = inclusion_index = None
    body_obj: dict[str, Any] = {}
    body = b""
    try:
        ev = json.loads(ev_line)
        if not isinstance(ev, dict):
            raise ValueError("not an object")
        if not {"leaf_index", "body", "signature"} <= set(ev) <= fmt.EVIDENCE_FIELDS:
            raise ValueError(f"unexpected fields {sorted(set(ev) ^ fmt.EVIDENCE_FIELDS)}")
        leaf_index = ev.get("leaf_index")
        if not isinstance(leaf_index, int) or isinstance(leaf_index, bool) or leaf_index < 0:
            raise ValueError("no leaf_index")
        where = f"leaf {leaf_index}"
        if not isinstance(ev.get("body"), str):
            raise ValueError("no body")
        body = ev["body"].encode("utf-8")
        body_obj = json.loads(body)
        if not isinstance(body_obj, dict):
            raise ValueError("body is not an object")
        where = f"leaf {leaf_index} ({body_obj.get('event')} {str(body_obj.get('id'))[:12]})"
    except (ValueError, UnicodeError) as exc:
        out.failures[SIGNATURES].add(f"{where}: unreadable evidence line ({exc})")
        out.failures[COUNTERSIGNATURES].add(f"{where}: unreadable evidence line")
        ev = {}
    if ev:
        _check_signature(ctx, ev, body, body_obj, where, out)
        _check_countersignature(ev, body, body_obj, where, out)
    try:
        inc = json.loads(inc_line) if inc_line is not None else None
        if not isinstance(inc, dict):
            raise ValueError("missing" if inc_line is None else "not an object")
        inclusion_index = inc.get("leaf_index")
        if set(inc) != fmt.INCLUSION_FIELDS:
            raise ValueError(f"unexpected fields {sorted(set(inc) ^ fmt.INCLUSION_FIELDS)}")
        if ev and inclusion_index != leaf_index:
            raise ValueError(f"its proof is for leaf {inclusion_index}")
        if worker.checker is None:
            raise ValueError("no checkpoint to check it against")
        if not ev:
            raise ValueError("the evidence line is unreadable")
        leaf = record_hash(body)
        if fmt.unb64(inc["leaf_hash"], "leaf_hash") != leaf:
            raise ValueError("leaf_hash is not SHA-256(0x00 || body)")
        if not isinstance(inc["proof"], list):
            raise ValueError("proof is not a list")
        if not isinstance(leaf_index, int):
            raise ValueError("the evidence line has no leaf index")
        worker.checker.check(leaf_index, leaf, [worker.hash(p) for p in inc["proof"]])
        out.included += 1
    except (ValueError, TypeError, CryptoError) as exc:
        out.failures[INCLUSION].add(f"{where}: {exc}")
    str_or_none = lambda v: v if isinstance(v, str) else None
    return Row(position, leaf_index, inclusion_index if isinstance(inclusion_index, int) else None,
                str_or_none(body_obj.get("id")), str_or_none(body_obj.get("document")),
                str_or_none(body_obj.get("recipient")), str_or_none(body_obj.get("sender_org")),
                str_or_none(body_obj.get("event")), str_or_none(body_obj.get("time")),
                str_or_none(body_obj.get("prev")),
                hashlib.sha256(body).hexdigest() if body else None,
                str_or_none(body_obj.get("commitment")))


def _check_signature(ctx: Context, ev: dict[str, Any], body: bytes, body_obj: dict[str, Any],
                     where: str, out: ChunkResult) -> None:
    try:
        key_id = body_obj.get("key_id")
        key = ctx.keys.get(key_id) if isinstance(key_id, str) else None
        if key is None:
            raise ValueError(f"signed with key {key_id!r}, which the trust file does not list")
        at = fmt.parse_stamp(body_obj.get("time"))
        if not key.valid_at(at):
            raise ValueError(f"key {key_id} was not valid at {fmt.stamp(at)} "
                             f"(valid {key.period()})")
        verify_evidence(body, fmt.unb64(ev.get("signature"), "signature"), key.public_key)
        out.signed += 1
    except (ValueError, CryptoError) as exc:
        out.failures[SIGNATURES].add(f"{where}: {exc}")


def _check_countersignature(ev: dict[str, Any], body: bytes, body_obj: dict[str, Any],
                            where: str, out: ChunkResult) -> None:
    retrieved = body_obj.get("event") == "retrieved"
    if not retrieved and ev.get("countersignature") is None:
        return
    out.retrieved += retrieved
    try:
        if ev.get("countersignature") is None:
            raise ValueError("retrieved without the recipient's countersignature")
        verify_countersignature(body, fmt.unb64(ev["countersignature"], "countersignature"),
                                fmt.unb64(ev.get("recipient_key"), "recipient_key"))
        out.countersigned += 1
    except (ValueError, CryptoError) as exc:
        out.failures[COUNTERSIGNATURES].add(f"{where}: {exc}")
