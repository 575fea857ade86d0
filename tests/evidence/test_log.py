"""The sequencer and the tiles: one writer, chain order, proofs equal to a reference tree."""
from __future__ import annotations

import hashlib
import random
import threading
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from crypto.merkle import (
    prove_record,
    prove_tree,
    record_hash,
    stored_hashes,
    tree_hash,
    verify_consistency,
    verify_inclusion,
)
from postbox import evidence, log, tilestore
from postbox.bootstrap import build
from postbox.db import make_engine
from postbox.models import Evidence, LogTile, new_id


class Reference:
    """An in-memory RFC 9162 tree over the same leaves (crypto.merkle, no tiles)."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.hashes: list[bytes] = []
        for n, body in enumerate(bodies):
            self.hashes.extend(stored_hashes(n, body, self))

    def read_hashes(self, indexes):  # type: ignore[no-untyped-def]
        return [self.hashes[i] for i in indexes]


def _insert(pb, n: int, start) -> list[bytes]:  # type: ignore[no-untyped-def]
    """n synthetic evidence rows (bodies need not be signed for the tree)."""
    rows = []
    for i in range(n):
        body = f'{{"n":{i},"r":"{new_id()}"}}'.encode()
        rows.append({"id": new_id(), "event": "consigned", "body": body,
                     "created_at": start + timedelta(microseconds=i),
                     "record_hash": hashlib.sha256(body).hexdigest()})
    with pb.uow() as uow:
        uow.session.execute(insert(Evidence), rows)
        uow.commit()
    return [r["body"] for r in rows]


def _bodies_in_leaf_order(pb) -> list[bytes]:  # type: ignore[no-untyped-def]
    with pb.uow() as uow:
        return [bytes(b) for b in uow.session.scalars(
            select(Evidence.body).where(Evidence.leaf_index.is_not(None))
            .order_by(Evidence.leaf_index))]


def test_sequencer_builds_the_reference_tree_and_proves_from_tiles(pb, clock) -> None:
    _insert(pb, 600, clock.now())
    assert log.sequence_pending(pb, batch=97) == 600  # batches cross tile boundaries
    assert log.sequence_pending(pb) == 0
    bodies = _bodies_in_leaf_order(pb)
    ref = Reference(bodies)
    size, root = log.tree_size(pb)
    assert size == 600 and root == tree_hash(600, ref)
    rng = random.Random(7)
    for _ in range(25):
        t = rng.randrange(1, 601)
        n = rng.randrange(t)
        proof = log.inclusion_proof(pb, n, t)
        assert proof == prove_record(t, n, ref)
        verify_inclusion(n, t, record_hash(bodies[n]), proof, tree_hash(t, ref))
        m = rng.randrange(0, t + 1)
        assert log.consistency_proof(pb, m, t) == prove_tree(t, m, ref)
    with pb.uow() as uow:  # 600 leaves: level-0 tiles 0, 1 full and 2 partial, a level-1 tile
        tiles = {(t.level, t.idx): len(t.data) // 32 for t in uow.session.scalars(select(LogTile))}
    assert tiles == {(0, 0): 256, (0, 1): 256, (0, 2): 88, (1, 0): 2}


def test_tiles_hold_a_tree_across_three_tile_levels() -> None:
    """70,000 leaves (beyond 256^2): proofs from tiles alone, as at 10^7, match the reference."""
    leaves = [record_hash(i.to_bytes(4, "big")) for i in range(70_000)]
    tiles: dict = {}
    size = 0
    for start in range(0, len(leaves), 5000):
        reader = tilestore.TileReader(lambda keys: {k: tiles[k] for k in keys if k in tiles})
        new, root = tilestore.append_leaves(reader, size, leaves[start:start + 5000])
        tiles.update(new)
        size += len(leaves[start:start + 5000])
    assert {k[0] for k in tiles} == {0, 1, 2}
    reader = tilestore.TileReader(lambda keys: {k: tiles[k] for k in keys if k in tiles},
                                  max_tiles=8)
    for t in (size, 65_537, 65_536, 300):
        paths = tilestore.PathMaker(reader, t)
        for n in sorted({0, 255, 256, 65535, 65536, 69_999, t - 1} - set(range(t, size))):
            proof = prove_record(t, n, reader)
            assert paths.path(n) == proof  # the export's fast path equals crypto.merkle's
            verify_inclusion(n, t, leaves[n], proof, tree_hash(t, reader) if t < size else root)
    proof = prove_tree(size, 65_537, reader)
    verify_consistency(65_537, size, tree_hash(65_537, reader), root, proof)


def test_a_record_is_always_sequenced_after_the_record_it_chains_to(pb, clock) -> None:
    """Same timestamps and random ids: (created_at, id) order would often put a successor
    first; the sequencer pulls its predecessors in, even across batch boundaries."""
    at = clock.now()
    with pb.uow() as uow:
        for _ in range(15):
            subject = evidence.Subject(new_id(), new_id(), new_id(), "00" * 32, "11" * 32)
            for event in ("submission_accepted", "consigned", "notified", "retrieved"):
                evidence.record(uow.session, pb.keys, event, subject, at)
        uow.commit()
    assert log.sequence_pending(pb, batch=1) == 60
    with pb.uow() as uow:
        rows = uow.session.execute(select(Evidence.leaf_index, Evidence.prev_hash,
                                          Evidence.record_hash)
                                   .order_by(Evidence.leaf_index)).all()
    seen: set[str] = set()
    for row in rows:
        assert row.prev_hash is None or row.prev_hash in seen
        seen.add(row.record_hash)
    assert [r.leaf_index for r in rows] == list(range(60))


def test_concurrent_sequencers_never_give_a_leaf_twice(pb, settings, clock) -> None:
    _insert(pb, 400, clock.now())
    others = [build(settings, clock=clock, engine=make_engine(settings.database_url))
              for _ in range(3)]
    errors: list[BaseException] = []

    def run(p) -> None:  # type: ignore[no-untyped-def]
        try:
            log.sequence_pending(p, wait=True, batch=23)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in [pb, *others]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for p in others:
        p.close()
    assert not errors
    bodies = _bodies_in_leaf_order(pb)
    assert len(bodies) == 400
    with pb.uow() as uow:
        indexes = list(uow.session.scalars(select(Evidence.leaf_index)))
    assert sorted(indexes) == list(range(400))
    assert log.tree_size(pb) == (400, tree_hash(400, Reference(bodies)))


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_try_lock_returns_at_once_when_another_sequencer_runs(pb, clock) -> None:
    """The worker's tick (wait=False) skips while another sequencer holds the advisory lock
    (SQLite serialises writers with its own write lock instead)."""
    _insert(pb, 10, clock.now())
    with pb.engine.connect() as other:
        other.execute(select(log.func.pg_advisory_lock(log.LOCK_KEY)))
        try:
            assert log.sequence_pending(pb) == 0
        finally:
            other.execute(select(log.func.pg_advisory_unlock(log.LOCK_KEY)))
    assert log.sequence_pending(pb) == 10
