"""The evidence log: the sequencer that puts evidence into the Merkle tree, and its proofs.

Every evidence row becomes a leaf (RFC 9162: leaf hash = SHA-256(0x00 || canonical body)).
The sequencer gives committed evidence its ``leaf_index`` with exactly one writer at a time:
PostgreSQL's transaction-level advisory lock, SQLite's write lock (our sessions begin
IMMEDIATE). Within a batch a record always follows the record it chains to (``prev``), so
every prefix of the log holds whole beginnings of every document's chain.

The stored hashes are kept as tlog-tiles (postbox/tilestore.py); proofs for any tree size
read O(log n) of them, so a log of 10^7 leaves is never loaded whole.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crypto.merkle import (
    EMPTY_ROOT,
    ProofError,
    prove_record,
    prove_tree,
    record_hash,
    tree_hash,
)
from postbox import tilestore
from postbox.bootstrap import Postbox
from postbox.db import is_postgres
from postbox.models import Evidence, LogState

BATCH = 2000
LOCK_KEY = 0x706F7374_6C6F67  # "postlog": the sequencer's PostgreSQL advisory lock


# -- the sequencer ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Pending:
    id: str
    body: bytes
    document_id: str | None
    prev_hash: str | None
    record_hash: str


def _lock(session: Session, wait: bool) -> bool:
    """Become the one sequencer; SQLite already holds its write lock (BEGIN IMMEDIATE)."""
    if not is_postgres(session.get_bind()):
        return True
    if wait:
        session.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(LOCK_KEY))))


def state(session: Session) -> LogState:
    row = session.get(LogState, 1, populate_existing=True)
    if row is None:  # the migration inserts it; a hand-made schema may not have
        row = LogState(id=1, size=0, root=EMPTY_ROOT)
        session.add(row)
        session.flush()
    return row


_PENDING_COLUMNS = (Evidence.id, Evidence.body, Evidence.document_id, Evidence.prev_hash,
                    Evidence.record_hash)


def _chain_order(session: Session, rows: list[_Pending]) -> list[_Pending]:
    """The batch with each record after the record it chains to, pulling in any such record
    that is still waiting outside the batch (so a chain's prefix is always a log prefix)."""
    by_hash = {r.record_hash: r for r in rows}
    wanted = {r.prev_hash for r in rows if r.prev_hash and r.prev_hash not in by_hash}
    while wanted:
        docs = {r.document_id for r in rows if r.document_id is not None}
        found = [_Pending(*r) for r in session.execute(
            select(*_PENDING_COLUMNS).where(Evidence.leaf_index.is_(None),
                                            Evidence.document_id.in_(docs),
                                            Evidence.record_hash.in_(wanted)))]
        found = [r for r in found if r.record_hash not in by_hash]
        rows = found + rows
        by_hash.update((r.record_hash, r) for r in found)
        wanted = {r.prev_hash for r in found if r.prev_hash and r.prev_hash not in by_hash}
    ordered: list[_Pending] = []
    placed: set[str] = set()
    for row in rows:
        stack, on_stack = [row], {row.id}
        while stack:  # place the unplaced ancestors first, iteratively (a cycle cannot loop)
            top = stack[-1]
            prev = by_hash.get(top.prev_hash or "")
            if prev is not None and prev.id not in placed and prev.id not in on_stack:
                stack.append(prev)
                on_stack.add(prev.id)
                continue
            stack.pop()
            if top.id not in placed:
                placed.add(top.id)
                ordered.append(top)
    return ordered


def _sequence_batch(pb: Postbox, batch: int, wait: bool) -> int:
    with pb.uow() as uow:
        s = uow.session
        if not _lock(s, wait):
            return 0
        st = state(s)
        rows = [_Pending(*r) for r in s.execute(
            select(*_PENDING_COLUMNS).where(Evidence.leaf_index.is_(None))
            .order_by(Evidence.created_at, Evidence.id).limit(batch))]
        if not rows:
            return 0
        ordered = _chain_order(s, rows)
        size = st.size
        reader = tilestore.TileReader(tilestore.db_fetch(s))
        tiles, root = tilestore.append_leaves(reader, size, [record_hash(r.body) for r in ordered])
        tilestore.write_tiles(s, tiles)
        s.execute(update(Evidence), [{"id": r.id, "leaf_index": size + i}
                                     for i, r in enumerate(ordered)])
        st.size, st.root, st.updated_at = size + len(ordered), root, pb.clock.now()
        uow.commit()
        return len(ordered)


def sequence_pending(pb: Postbox, *, wait: bool = False, limit: int | None = None,
                     batch: int = BATCH) -> int:
    """Give every committed, unsequenced evidence its leaf; returns how many were added.

    ``wait=False`` (the worker's tick) returns 0 at once when another sequencer runs;
    ``wait=True`` (on-demand checkpoints, exports) waits for it and then finishes the queue.
    """
    total = 0
    while limit is None or total < limit:
        n = _sequence_batch(pb, batch if limit is None else min(batch, limit - total), wait)
        if n == 0:
            break
        total += n
    return total


# -- reading (plain sessions: never SQLite's write lock) ------------------------------------

def tree_size(pb: Postbox) -> tuple[int, bytes]:
    with Session(pb.engine) as session:
        st = state(session)
        return st.size, st.root


def _check_size(session: Session, size: int) -> None:
    current = state(session).size
    if size > current:
        raise ProofError(f"tree size {size} exceeds the log's size {current}")


def inclusion_proof(pb: Postbox, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) from the tiles."""
    with Session(pb.engine) as session:
        _check_size(session, size)
        return prove_record(size, index, tilestore.TileReader(tilestore.db_fetch(session)))


def consistency_proof(pb: Postbox, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[0:second]) from the tiles."""
    with Session(pb.engine) as session:
        _check_size(session, second)
        return prove_tree(second, first, tilestore.TileReader(tilestore.db_fetch(session)))


def root_at(pb: Postbox, size: int) -> bytes:
    with Session(pb.engine) as session:
        _check_size(session, size)
        return tree_hash(size, tilestore.TileReader(tilestore.db_fetch(session)))
