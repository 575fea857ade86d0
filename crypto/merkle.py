"""RFC 9162 Merkle tree maths for the evidence log, computed from a flat sequence of stored hashes.

Owns leaf and node hashing, the stored-hash layout (Crosby and Wallach's order, as in Go's
golang.org/x/mod/sumdb/tlog), tree hashes, inclusion and consistency proofs, and the RFC 9162
section 2.1.3.2 and 2.1.4.2 verifiers an offline checker runs. Proofs are built from at most
O(log n) stored hashes read through a `HashReader`, so a log of 10^7 leaves never loads its tree.

Threat model: the log operator is not trusted. A log that drops or rewrites an evidence, or shows
two histories (two checkpoints whose trees are not one a prefix of the other), must be caught by
anyone holding a checkpoint and a proof. Every verifier here recomputes the roots from the proof
and rejects a proof with a missing, extra or altered hash; the 0x00 leaf and 0x01 node prefixes
keep a leaf from passing for an interior node.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol
from crypto.errors import CryptoError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(CryptoError, ValueError):
    """A proof, tree size, index or stored hash failed a check; the message names the check."""


class HashReader(Protocol):
    """Where the stored hashes live (memory, a database, tiles)."""

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """Return the stored hashes at `indexes`, in the same order."""
        ...


def record_hash(data: bytes) -> bytes:
    """The leaf hash of one log entry: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def stored_hash_index(level: int, n: int) -> int:
    """Position of the `n`th hash at `level` (0 = leaves) in the stored-hash sequence."""
    _check_nonnegative(level=level, n=n)
    # Level L's nth hash is stored right after level L-1's (2n+1)th hash, so walk down to
    # level 0, where the nth leaf sits at n + n/2 + n/4 + ... .
    for _ in range(level):
        n = 2 * n + 1
    index = 0
    while n > 0:
        index += n
        n >>= 1
    return index + level


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """Inverse of `stored_hash_index`: the (level, n) stored at `index`."""
    _check_nonnegative(index=index)
    # stored_hash_index(0, n) < 2n, so the leaf stored before `index` is at least index // 2.
    n = index // 2
    index_n = stored_hash_index(0, n)
    while True:
        following = index_n + 1 + _trailing_zeros(n + 1)  # leaf n brings 1 + tz(n+1) hashes
        if following > index:
            break
        n += 1
        index_n = following
    level = index - index_n
    return level, n >> level


def stored_hash_count(n: int) -> int:
    """How many hashes a log of `n` leaves has stored."""
    _check_nonnegative(n=n)
    return stored_hash_index(0, n)


def stored_hashes(n: int, data: bytes, reader: HashReader) -> list[bytes]:
    """The hashes to append, at `stored_hash_count(n)`, when entry `n` (0-based) is added."""
    return stored_hashes_for_record_hash(n, record_hash(data), reader)


def stored_hashes_for_record_hash(n: int, leaf: bytes, reader: HashReader) -> list[bytes]:
    """As `stored_hashes`, given the leaf hash instead of the entry."""
    _check_nonnegative(n=n)
    _check_hash(leaf, "leaf hash")
    # Each trailing 1 bit of n completes a subtree whose left half is already stored.
    completed = _trailing_zeros(n + 1)
    indexes = [stored_hash_index(i, (n >> i) - 1) for i in reversed(range(completed))]
    lefts = _read(reader, indexes)
    hashes = [leaf]
    for left in reversed(lefts):
        hashes.append(node_hash(left, hashes[-1]))
    return hashes


def tree_hash(n: int, reader: HashReader) -> bytes:
    """The root of the tree of the first `n` leaves (`EMPTY_ROOT` when `n` is 0)."""
    _check_nonnegative(n=n)
    if n == 0:
        return EMPTY_ROOT
    return _range_hashes([(0, n)], reader)[0]


def prove_record(t: int, n: int, reader: HashReader) -> list[bytes]:
    """Inclusion proof (RFC 9162 PATH) that leaf `n` is in the tree of size `t`."""
    _check_nonnegative(t=t, n=n)
    if n >= t:
        raise ProofError(f"leaf index {n} is not below tree size {t}")
    return _range_hashes(_inclusion_ranges(n, t), reader)


def prove_tree(t: int, n: int, reader: HashReader) -> list[bytes]:
    """Consistency proof (RFC 9162 PROOF) that the tree of size `n` is a prefix of size `t`."""
    _check_nonnegative(t=t, n=n)
    if n > t:
        raise ProofError(f"old tree size {n} exceeds new tree size {t}")
    if n in (0, t):
        return []
    return _range_hashes(_consistency_ranges(n, t), reader)


def check_record(proof: Sequence[bytes], t: int, th: bytes, n: int, h: bytes) -> None:
    """tlog's argument order for `verify_inclusion`: leaf `n` with hash `h` in tree (`t`, `th`)."""
    verify_inclusion(n, t, h, proof, th)


def check_tree(proof: Sequence[bytes], t: int, th: bytes, n: int, h: bytes) -> None:
    """tlog's argument order for `verify_consistency`: tree (`n`, `h`) is a prefix of (`t`, `th`)."""
    verify_consistency(n, t, h, th, proof)


def verify_inclusion(
    leaf_index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check an inclusion proof as RFC 9162 section 2.1.3.2; raise ProofError if it fails."""
    _check_nonnegative(leaf_index=leaf_index, tree_size=tree_size)
    _check_hash(leaf_hash, "leaf hash")
    _check_hash(root, "root")
    _check_proof(proof)
    if leaf_index >= tree_size:
        raise ProofError(f"leaf index {leaf_index} is not below tree size {tree_size}")
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    if r != root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check a consistency proof as RFC 9162 section 2.1.4.2; raise ProofError if it fails.

    Two edge cases RFC 9162 leaves to the caller: equal sizes need equal roots and an empty
    proof; an old size of 0 needs the empty-tree root and an empty proof.
    """
    _check_nonnegative(first=first, second=second)
    _check_hash(first_root, "first root")
    _check_hash(second_root, "second root")
    _check_proof(proof)
    if first > second:
        raise ProofError(f"first tree size {first} exceeds second tree size {second}")
    if first == 0 or first == second:
        if proof:
            raise ProofError("consistency proof must be empty for these tree sizes")
        if first == 0 and first_root != EMPTY_ROOT:
            raise ProofError("first root is not the empty tree hash")
        if first == second and first_root != second_root:
            raise ProofError("roots differ for the same tree size")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:  # the old tree is a complete subtree: its root starts the path
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != first_root:
        raise ProofError("consistency proof does not lead to the first root")
    if sr != second_root:
        raise ProofError("consistency proof does not lead to the second root")


def _inclusion_ranges(n: int, t: int) -> list[tuple[int, int]]:
    """Leaf ranges whose subtree hashes form PATH(n, D[0:t]), leaf to root."""
    ranges = []
    lo, hi = 0, t
    while hi - lo > 1:
        k = _split(hi - lo)
        if n < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def _consistency_ranges(m: int, t: int) -> list[tuple[int, int]]:
    """Leaf ranges whose subtree hashes form PROOF(m, D[0:t]) for 0 < m < t, in proof order."""
    ranges = []
    lo, hi = 0, t
    while m != hi:
        k = _split(hi - lo)
        if m <= lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    if lo > 0:  # SUBPROOF with b = false: the verifier does not know this subtree's hash
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def _subtree_indexes(lo: int, hi: int) -> list[int]:
    """Stored indexes of the complete subtrees that make up leaves [lo, hi), left to right."""
    indexes = []
    while lo < hi:
        k = 1 << ((hi - lo).bit_length() - 1)
        level = k.bit_length() - 1
        indexes.append(stored_hash_index(level, lo >> level))
        lo += k
    return indexes


def _range_hashes(ranges: Sequence[tuple[int, int]], reader: HashReader) -> list[bytes]:
    """MTH of each leaf range, from one batched read of complete-subtree hashes."""
    plans = [_subtree_indexes(lo, hi) for lo, hi in ranges]
    hashes = _read(reader, [i for plan in plans for i in plan])
    out = []
    pos = 0
    for plan in plans:
        parts = hashes[pos : pos + len(plan)]
        pos += len(plan)
        h = parts[-1]
        for left in reversed(parts[:-1]):
            h = node_hash(left, h)
        out.append(h)
    return out


def _read(reader: HashReader, indexes: list[int]) -> list[bytes]:
    if not indexes:
        return []
    hashes = list(reader.read_hashes(indexes))
    if len(hashes) != len(indexes):
        raise ProofError(f"hash reader returned {len(hashes)} hashes for {len(indexes)} indexes")
    for h in hashes:
        _check_hash(h, "stored hash")
    return hashes


def _split(n: int) -> int:
    """The largest power of two strictly below `n` (n >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def _trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


def _check_nonnegative(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ProofError(f"{name} must be a non-negative integer, got {value!r}")


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} is not a {HASH_SIZE}-byte hash")


def _check_proof(proof: Sequence[bytes]) -> None:
    for i, p in enumerate(proof):
        _check_hash(p, f"proof hash {i}")
