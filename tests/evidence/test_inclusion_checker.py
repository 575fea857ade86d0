"""crypto.inclusion.InclusionChecker answers exactly as crypto.merkle.verify_inclusion."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.inclusion import InclusionChecker
from crypto.merkle import (
    ProofError,
    prove_record,
    record_hash,
    stored_hashes,
    tree_hash,
    verify_inclusion,
)


class Tree:
    def __init__(self, n: int) -> None:
        self.hashes: list[bytes] = []
        self.leaves = [record_hash(i.to_bytes(4, "big")) for i in range(n)]
        for i in range(n):
            self.hashes.extend(stored_hashes(i, i.to_bytes(4, "big"), self))
        self.root = tree_hash(n, self) if n else b""

    def read_hashes(self, indexes):  # type: ignore[no-untyped-def]
        return [self.hashes[i] for i in indexes]


def _reference(index, size, leaf, proof, root) -> bool:  # type: ignore[no-untyped-def]
    try:
        verify_inclusion(index, size, leaf, proof, root)
        return True
    except ProofError:
        return False


def _checked(checker, index, leaf, proof) -> bool:  # type: ignore[no-untyped-def]
    try:
        checker.check(index, leaf, proof)
        return True
    except ProofError:
        return False


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 300), seed=st.integers(0, 2**32))
def test_same_answer_as_verify_inclusion_on_honest_and_tampered_proofs(size: int,
                                                                       seed: int) -> None:
    tree, rng = Tree(size), random.Random(seed)
    checker = InclusionChecker(size, tree.root)
    order = list(range(size))
    rng.shuffle(order)
    for index in order[:40]:
        proof = prove_record(size, index, tree)
        leaf = tree.leaves[index]
        cases = [(index, leaf, proof)]
        if proof:
            k = rng.randrange(len(proof))
            bad = list(proof)
            bad[k] = bytes(32) if bad[k] != bytes(32) else b"\1" * 32
            cases += [(index, leaf, bad), (index, leaf, proof[:-1]),
                      (index, leaf, proof + [proof[-1]])]
            if size > 1:
                other = (index + 1) % size
                cases += [(other, leaf, proof), (index, tree.leaves[other], proof)]
        cases.append((index, leaf, list(proof) + [bytes(32)]))
        for i, lf, pf in cases:
            assert _checked(checker, i, lf, pf) == _reference(i, size, lf, pf, tree.root), (
                size, index, i)


def test_neighbouring_proofs_are_checked_without_rehashing_the_shared_path() -> None:
    tree = Tree(1000)
    checker = InclusionChecker(1000, tree.root)
    for index in range(1000):
        checker.check(index, tree.leaves[index], prove_record(1000, index, tree))
    assert len(checker._known) < 2100  # one entry per node touched, not per proof step
    with pytest.raises(ProofError):
        checker.check(5, tree.leaves[6], prove_record(1000, 5, tree))
    with pytest.raises(ProofError):
        checker.check(1000, tree.leaves[5], prove_record(1000, 5, tree))
