"""Merkle proofs from stored hashes agree with RFC 9162 section 2.1, written out naively here.

The reference below (`mth`, `path`, `proof`) follows the RFC's recursive definitions over a list
of leaf hashes and shares no code with crypto.merkle; every proof the stored-hash code builds
must equal it, verify, and stop verifying when anything about it is changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import merkle, tiles
from crypto.merkle import ProofError

VECTORS = Path(__file__).parents[2] / "vectors" / "merkle"


# --- RFC 9162 section 2.1, as written ------------------------------------------------------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf *inputs*."""
    if len(d) == 0:
        return _h(b"")
    if len(d) == 1:
        return _h(b"\x00" + d[0])
    k = _k(len(d))
    return _h(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the inclusion proof."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): the consistency proof, 0 < m <= n."""
    return _subproof(m, d, True)


def _subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _k(n)
    if m <= k:
        return _subproof(m, d[:k], b) + [mth(d[k:])]
    return _subproof(m - k, d[k:], False) + [mth(d[:k])]


# --- stored hashes in memory ---------------------------------------------------------------------


class MemoryHashes:
    """A HashReader over a list, limited to the hashes a tree of `size` leaves has stored."""

    def __init__(self, hashes: list[bytes], size: int | None = None) -> None:
        self.hashes = hashes
        self.limit = len(hashes) if size is None else merkle.stored_hash_count(size)
        self.reads = 0

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        self.reads += len(indexes)
        for i in indexes:
            assert 0 <= i < self.limit, f"read of stored hash {i} beyond the tree"
        return [self.hashes[i] for i in indexes]


def build(leaves: Sequence[bytes]) -> list[bytes]:
    hashes: list[bytes] = []
    for n, data in enumerate(leaves):
        assert len(hashes) == merkle.stored_hash_count(n)
        hashes += merkle.stored_hashes(n, data, MemoryHashes(hashes))
    return hashes


def leaf(i: int) -> bytes:
    return f"evidence {i}".encode()


LEAVES = [leaf(i) for i in range(4100)]
STORE = build(LEAVES)


def reader(size: int) -> MemoryHashes:
    return MemoryHashes(STORE, size)


# --- known answers -------------------------------------------------------------------------------


def _hexes(values: Sequence[bytes]) -> list[str]:
    return [v.hex() for v in values]


def test_rfc6962_reference_tree() -> None:
    v = json.loads((VECTORS / "rfc6962.json").read_text())
    data = [bytes.fromhex(x) for x in v["leaves"]]
    hashes = build(data)
    for size, root in enumerate(v["roots"]):
        assert merkle.tree_hash(size, MemoryHashes(hashes, size)).hex() == root
        assert mth(data[:size]).hex() == root
    for case in v["inclusion"]:
        i, n = case["index"], case["size"]
        got = merkle.prove_record(n, i, MemoryHashes(hashes, n))
        assert _hexes(got) == case["proof"] == _hexes(path(i, data[:n]))
        merkle.verify_inclusion(i, n, merkle.record_hash(data[i]), got, bytes.fromhex(v["roots"][n]))
    for case in v["consistency"]:
        m, n = case["first"], case["second"]
        got = merkle.prove_tree(n, m, MemoryHashes(hashes, n))
        assert _hexes(got) == case["proof"] == _hexes(proof(m, data[:n]))
        roots = [bytes.fromhex(v["roots"][s]) for s in (m, n)]
        merkle.verify_consistency(m, n, roots[0], roots[1], got)


def test_checked_in_reference_vectors() -> None:
    v = json.loads((VECTORS / "reference.json").read_text())
    data = [bytes.fromhex(x) for x in v["leaves"]]
    hashes = build(data)
    assert v == reference_vectors(data), "vectors drifted from the RFC reference"
    for size, root in enumerate(v["roots"]):
        assert merkle.tree_hash(size, MemoryHashes(hashes, size)).hex() == root
    for case in v["inclusion"]:
        n = case["size"]
        assert _hexes(merkle.prove_record(n, case["index"], MemoryHashes(hashes, n))) == case["proof"]
    for case in v["consistency"]:
        n = case["second"]
        assert _hexes(merkle.prove_tree(n, case["first"], MemoryHashes(hashes, n))) == case["proof"]


def reference_vectors(data: Sequence[bytes]) -> dict:
    """What tests/vectors/merkle/generate.py writes to reference.json."""
    return {
        "about": "RFC 9162 section 2.1 MTH, PATH and PROOF computed by the naive reference",
        "leaves": [d.hex() for d in data],
        "roots": [mth(data[:n]).hex() for n in range(len(data) + 1)],
        "inclusion": [
            {"index": i, "size": n, "proof": _hexes(path(i, data[:n]))}
            for n in (1, 2, 3, 5, 7, 8, 13, 16, 17)
            for i in range(n)
        ],
        "consistency": [
            {"first": m, "second": n, "proof": _hexes(proof(m, data[:n]))}
            for n in (5, 8, 13, 17)
            for m in range(1, n + 1)
        ],
    }


def test_stored_hash_layout() -> None:
    # leaf 0, leaf 1, node(0,1), leaf 2, leaf 3, node(2,3), node(0..3), leaf 4
    expected = [(0, 0), (0, 1), (1, 0), (0, 2), (0, 3), (1, 1), (2, 0), (0, 4)]
    assert [merkle.split_stored_hash_index(i) for i in range(8)] == expected
    for i, (level, n) in enumerate(expected):
        assert merkle.stored_hash_index(level, n) == i
    for index in range(5000):
        assert merkle.stored_hash_index(*merkle.split_stored_hash_index(index)) == index
    assert [merkle.stored_hash_count(n) for n in range(6)] == [0, 1, 3, 4, 7, 8]
    assert merkle.stored_hash_count(len(LEAVES)) == len(STORE)


# --- exhaustive small trees ----------------------------------------------------------------------


@pytest.mark.parametrize("size", range(71))
def test_roots_and_inclusion_proofs_match_the_rfc(size: int) -> None:
    root = merkle.tree_hash(size, reader(size))
    assert root == mth(LEAVES[:size])
    for i in range(size):
        got = merkle.prove_record(size, i, reader(size))
        assert got == path(i, LEAVES[:size])
        merkle.verify_inclusion(i, size, merkle.record_hash(LEAVES[i]), got, root)
        merkle.check_record(got, size, root, i, merkle.record_hash(LEAVES[i]))


@pytest.mark.parametrize("second", range(41))
def test_consistency_proofs_match_the_rfc(second: int) -> None:
    second_root = mth(LEAVES[:second])
    for first in range(second + 1):
        got = merkle.prove_tree(second, first, reader(second))
        assert got == (proof(first, LEAVES[:second]) if first else [])
        first_root = mth(LEAVES[:first])
        merkle.verify_consistency(first, second, first_root, second_root, got)
        if first:
            merkle.check_tree(got, second, second_root, first, first_root)


def _variants(items: list[bytes]) -> list[list[bytes]]:
    """Every proof a tampering log could substitute: flipped bits, dropped, added, reordered."""
    out = []
    for i in range(len(items)):
        for bit in (0, 7 * 8 + 3, 255):
            flipped = bytearray(items[i])
            flipped[bit // 8] ^= 1 << (bit % 8)
            out.append(items[:i] + [bytes(flipped)] + items[i + 1 :])
        out.append(items[:i] + items[i + 1 :])
        if i + 1 < len(items) and items[i] != items[i + 1]:
            out.append(items[:i] + [items[i + 1], items[i]] + items[i + 2 :])
    out.append(items + [_h(b"extra")])
    out.append([_h(b"extra")] + items)
    if items:
        out.append(items + items[-1:])
    return out


@pytest.mark.parametrize("size", range(1, 21))
def test_tampered_inclusion_proofs_fail(size: int) -> None:
    roots = [mth(LEAVES[:n]) for n in range(2 * size + 2)]
    for i in range(size):
        good = merkle.prove_record(size, i, reader(size))
        lh = merkle.record_hash(LEAVES[i])
        for bad in _variants(good):
            with pytest.raises(ProofError):
                merkle.verify_inclusion(i, size, lh, bad, roots[size])
        for other in range(2 * size + 2):  # another index of the same tree
            if other != i:
                with pytest.raises(ProofError):
                    merkle.verify_inclusion(other, size, lh, good, roots[size])
        # Another size, with that size's real root (a checkpoint binds a size to its root).
        for n in range(1, 2 * size + 2):
            if n != size:
                with pytest.raises(ProofError):
                    merkle.verify_inclusion(i, n, lh, good, roots[n])
        with pytest.raises(ProofError):
            merkle.verify_inclusion(i, size, merkle.record_hash(b"forged"), good, roots[size])
        with pytest.raises(ProofError):
            merkle.verify_inclusion(i, size, lh, good, roots[size - 1])


@pytest.mark.parametrize("second", range(2, 21))
def test_tampered_consistency_proofs_fail(second: int) -> None:
    roots = [mth(LEAVES[:n]) for n in range(second + 3)]
    for first in range(1, second):
        good = merkle.prove_tree(second, first, reader(second))
        for bad in _variants(good) + [[]]:
            with pytest.raises(ProofError):
                merkle.verify_consistency(first, second, roots[first], roots[second], bad)
        for m in range(1, second + 2):
            for n in range(m + 1, second + 3):
                if (m, n) != (first, second):
                    with pytest.raises(ProofError):
                        merkle.verify_consistency(m, n, roots[m], roots[n], good)
        # Two histories: the same old size with another root, or the new root of a forked log.
        forked = mth(LEAVES[: second - 1] + [b"rewritten"])
        for first_root, second_root in [(forked, roots[second]), (roots[first], forked)]:
            with pytest.raises(ProofError):
                merkle.verify_consistency(first, second, first_root, second_root, good)


def test_consistency_edge_cases() -> None:
    r3, r5 = mth(LEAVES[:3]), mth(LEAVES[:5])
    merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, r5, [])
    merkle.verify_consistency(3, 3, r3, r3, [])
    cases = [
        (0, 5, r3, r5, []),  # the empty tree has one root
        (0, 5, merkle.EMPTY_ROOT, r5, [r3]),
        (3, 3, r3, r5, []),  # same size, two roots: two histories
        (3, 3, r3, r3, [r3]),
        (5, 3, r5, r3, []),
        (-1, 3, r3, r3, []),
        (3, 5, r3, r5, [b"short"]),
        (3, 5, r3[:31], r5, merkle.prove_tree(5, 3, reader(5))),
    ]
    for case in cases:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*case)


def test_bad_arguments_raise_proof_error() -> None:
    root = mth(LEAVES[:4])
    for call in [
        lambda: merkle.prove_record(4, 4, reader(4)),
        lambda: merkle.prove_record(0, 0, reader(0)),
        lambda: merkle.prove_record(4, -1, reader(4)),
        lambda: merkle.prove_tree(3, 4, reader(4)),
        lambda: merkle.tree_hash(-1, reader(0)),
        lambda: merkle.verify_inclusion(0, 0, root, [], root),
        lambda: merkle.verify_inclusion(True, 4, root, [], root),
        lambda: merkle.verify_inclusion(0, 1, "not bytes", [], root),  # type: ignore[arg-type]
        lambda: merkle.tree_hash(4, MemoryHashes([b"\x00" * 31] * 7)),
        lambda: merkle.tree_hash(4, ShortReader()),
    ]:
        with pytest.raises(ProofError):
            call()
    assert merkle.prove_tree(4, 0, reader(4)) == [] and merkle.prove_tree(4, 4, reader(4)) == []
    assert merkle.tree_hash(0, reader(0)) == hashlib.sha256(b"").digest()


class ShortReader:
    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        return [b"\x00" * 32] * (len(indexes) - 1)


# --- random trees up to a few thousand leaves ----------------------------------------------------


@cache
def _mth_range(lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) for the global leaves, memoised so large references stay fast."""
    if hi - lo == 1:
        return _h(b"\x00" + LEAVES[lo])
    k = _k(hi - lo)
    return _h(b"\x01" + _mth_range(lo, lo + k) + _mth_range(lo + k, hi))


def _path_range(m: int, lo: int, hi: int) -> list[bytes]:
    if hi - lo == 1:
        return []
    k = _k(hi - lo)
    if m < lo + k:
        return _path_range(m, lo, lo + k) + [_mth_range(lo + k, hi)]
    return _path_range(m, lo + k, hi) + [_mth_range(lo, lo + k)]


def _proof_range(m: int, lo: int, hi: int, b: bool) -> list[bytes]:
    if m == hi:
        return [] if b else [_mth_range(lo, hi)]
    k = _k(hi - lo)
    if m <= lo + k:
        return _proof_range(m, lo, lo + k, b) + [_mth_range(lo + k, hi)]
    return _proof_range(m, lo + k, hi, False) + [_mth_range(lo, lo + k)]


sizes = st.integers(min_value=1, max_value=len(LEAVES))


@settings(max_examples=150, deadline=None)
@given(size=sizes, data=st.data())
def test_random_inclusion_proofs(size: int, data: st.DataObject) -> None:
    i = data.draw(st.integers(min_value=0, max_value=size - 1))
    r = reader(size)
    root = merkle.tree_hash(size, r)
    assert root == _mth_range(0, size)
    got = merkle.prove_record(size, i, r)
    assert got == _path_range(i, 0, size)
    assert r.reads <= 3 * size.bit_length()  # O(log n) stored hashes, never the tree
    merkle.verify_inclusion(i, size, merkle.record_hash(LEAVES[i]), got, root)
    bad = data.draw(st.sampled_from(_variants(got))) if got else [_h(b"x")]
    with pytest.raises(ProofError):
        merkle.verify_inclusion(i, size, merkle.record_hash(LEAVES[i]), bad, root)


@settings(max_examples=150, deadline=None)
@given(second=sizes, data=st.data())
def test_random_consistency_proofs(second: int, data: st.DataObject) -> None:
    first = data.draw(st.integers(min_value=1, max_value=second))
    r = reader(second)
    got = merkle.prove_tree(second, first, r)
    assert got == _proof_range(first, 0, second, True)
    assert r.reads <= 3 * second.bit_length()
    roots = _mth_range(0, first), _mth_range(0, second)
    merkle.verify_consistency(first, second, *roots, got)
    if first < second:
        bad = data.draw(st.sampled_from(_variants(got)))
        with pytest.raises(ProofError):
            merkle.verify_consistency(first, second, *roots, bad)


class SyntheticHashes:
    """Stands in for the stored hashes of an enormous log: any index yields a fixed hash."""

    def __init__(self) -> None:
        self.reads = 0

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        self.reads += len(indexes)
        return [_h(i.to_bytes(8, "big")) for i in indexes]


@pytest.mark.parametrize("size", [10**7, 10**7 + 1, 2**24, 2**24 - 1])
def test_ten_million_leaves_read_only_a_logarithmic_number_of_hashes(size: int) -> None:
    for call in [
        lambda r: merkle.tree_hash(size, r),
        lambda r: merkle.prove_record(size, size - 1, r),
        lambda r: merkle.prove_record(size, 1234567, r),
        lambda r: merkle.prove_tree(size, 9_999_999, r),
        lambda r: merkle.prove_tree(size, 3, r),
        lambda r: merkle.stored_hashes(size, b"next", r),
    ]:
        r = SyntheticHashes()
        call(r)
        assert r.reads <= 2 * size.bit_length()


# --- tiles ---------------------------------------------------------------------------------------


def test_tile_paths() -> None:
    assert tiles.Tile(8, 0, 1234067, 256).path() == "tile/0/x001/x234/067"
    assert tiles.Tile(8, 2, 0, 1).path() == "tile/2/000.p/1"
    assert tiles.Tile(8, 1, 1000, 255).path() == "tile/1/x001/000.p/255"
    for t in [tiles.Tile(8, 0, 1234067, 256), tiles.Tile(8, 3, 7, 9), tiles.Tile(8, 63, 10**9, 1)]:
        assert tiles.parse_tile_path(t.path()) == t
    for bad in ["tile/0/x000/001", "tile/0/001.p/256", "tile/0/001.p/0", "tile/0/01", "tile/00/000",
                "tile/64/000", "tile/0/1000", "tile/0/001.p/007", "tile/entries/000", "/tile/0/000"]:
        with pytest.raises(tiles.TileError):
            tiles.parse_tile_path(bad)
    with pytest.raises(tiles.TileError):
        tiles.Tile(2, 0, 0, 4).path()
    with pytest.raises(tiles.TileError):
        tiles.Tile(8, 0, 0, 257)


def test_new_tiles_match_the_tlog_tiles_example() -> None:
    got = tiles.new_tiles(8, 0, 70_000)
    full0 = [t for t in got if t.level == 0 and t.full]
    assert len(full0) == 273
    assert [t for t in got if not (t.level == 0 and t.full)] == [
        tiles.Tile(8, 0, 273, 112), tiles.Tile(8, 1, 0, 256),
        tiles.Tile(8, 1, 1, 17), tiles.Tile(8, 2, 0, 1),
    ]
    assert tiles.new_tiles(8, 0, 256) == [tiles.Tile(8, 0, 0, 256), tiles.Tile(8, 1, 0, 1)]
    assert tiles.new_tiles(8, 256, 256) == []
    assert tiles.new_tiles(8, 300, 301) == [tiles.Tile(8, 0, 1, 45)]


@pytest.mark.parametrize("height", [1, 2, 3, 8])
def test_proofs_read_through_tiles_equal_proofs_from_stored_hashes(height: int) -> None:
    # Grow the log checkpoint by checkpoint, writing only the tiles new_tiles names.
    stored: dict[tiles.Tile, bytes] = {}
    checkpoints = [1, 2, 3, 7, 8, 9, 30, 64, 65, 100, 255, 256, 257, 600]
    old = 0
    for size in checkpoints:
        for t in tiles.new_tiles(height, old, size):
            data = tiles.read_tile_data(t, reader(size))
            assert stored.setdefault(t, data) == data  # tiles are immutable once written
        old = size

    def fetch(wanted: Sequence[tiles.Tile]) -> list[bytes]:
        return [stored[t] for t in wanted]

    for size in checkpoints:
        via_tiles = tiles.TileHashReader(size, fetch, height)
        assert merkle.tree_hash(size, via_tiles) == merkle.tree_hash(size, reader(size))
        for i in {0, size // 2, size - 1}:
            assert merkle.prove_record(size, i, via_tiles) == merkle.prove_record(size, i, reader(size))
        for first in {1, size // 3 or 1, size - 1 or 1}:
            assert merkle.prove_tree(size, first, via_tiles) == merkle.prove_tree(size, first, reader(size))
        for index in range(merkle.stored_hash_count(size)):
            assert via_tiles.read_hashes([index]) == [STORE[index]]
        with pytest.raises(ProofError):
            via_tiles.read_hashes([merkle.stored_hash_count(size)])


def test_hash_from_tile_checks_its_tile() -> None:
    t = tiles.Tile(2, 0, 0, 4)
    data = tiles.read_tile_data(t, reader(4))
    assert tiles.hash_from_tile(t, data, merkle.stored_hash_index(1, 1)) == mth(LEAVES[2:4])
    assert tiles.hash_from_tile(t, data, merkle.stored_hash_index(0, 3)) == STORE[4]
    assert tiles.tile_for_index(2, merkle.stored_hash_index(1, 1)) == t
    for tile, blob, index in [
        (t, data[:-1], 0),  # short data
        (t, data, merkle.stored_hash_index(0, 4)),  # the hash is in the next tile
        (tiles.Tile(2, 0, 0, 1), data[:32], merkle.stored_hash_index(0, 1)),  # tile too narrow
        (tiles.Tile(2, 1, 0, 4), data, 0),  # wrong level
    ]:
        with pytest.raises(tiles.TileError):
            tiles.hash_from_tile(tile, blob, index)
