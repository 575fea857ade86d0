"""Checking many inclusion proofs into one tree, fast: RFC 9162 with a memo of verified nodes.

A proof bundle holds up to 10^5 inclusion proofs into the same tree, mostly for neighbouring
leaves, whose paths share almost every node. :class:`InclusionChecker` answers exactly what
``crypto.merkle.verify_inclusion`` answers, but remembers, for every step of every proof that
reached the root, the node hash at that position and the sibling the proof used there. A later
proof whose running hash meets a remembered node needs no more hashing: the rest of it must
equal the remembered siblings, compared byte for byte. Anything else (a miss, a difference, a
proof too long or too short) is decided by ``verify_inclusion`` itself.

Threat model: proofs are hostile. Only states on paths that verified to the trusted root are
remembered; a node is keyed by its position (shifts, index), which for a fixed tree size names
one subtree. So a proof passes here if and only if it passes ``verify_inclusion``.
"""

from __future__ import annotations

from collections.abc import Sequence

from crypto.merkle import node_hash, verify_inclusion

MAX_REMEMBERED = 1 << 20


class InclusionChecker:
    """Inclusion proofs into the tree of ``size`` leaves with root ``root``."""

    def __init__(self, size: int, root: bytes) -> None:
        self.size, self.root = size, root
        self._known: dict[tuple[int, int], tuple[bytes, bytes]] = {}

    def check(self, index: int, leaf: bytes, proof: Sequence[bytes]) -> None:
        """Raise ProofError unless ``proof`` shows ``leaf`` at ``index`` (as verify_inclusion)."""
        if not (isinstance(index, int) and 0 <= index < self.size and len(leaf) == 32
                and all(isinstance(p, bytes) and len(p) == 32 for p in proof)):
            verify_inclusion(index, self.size, leaf, proof, self.root)  # raises the right error
            return
        fn, sn, r, shift = index, self.size - 1, leaf, 0
        trail: list[tuple[tuple[int, int], bytes, bytes]] = []
        for k, p in enumerate(proof):
            if sn == 0:
                break
            known = self._known.get((shift, fn))
            if known is not None and known[0] == r:
                if self._rest_matches(proof, k, fn, sn, shift):
                    self._remember(trail)
                    return
                break
            trail.append(((shift, fn), r, p))
            if fn & 1 or fn == sn:
                r = node_hash(p, r)
                while fn and not fn & 1:
                    fn, sn, shift = fn >> 1, sn >> 1, shift + 1
            else:
                r = node_hash(r, p)
            fn, sn, shift = fn >> 1, sn >> 1, shift + 1
        else:
            if sn == 0 and r == self.root:
                self._remember(trail)
                return
        verify_inclusion(index, self.size, leaf, proof, self.root)  # the definitive answer

    def _rest_matches(self, proof: Sequence[bytes], k: int, fn: int, sn: int,
                      shift: int) -> bool:
        """Whether proof[k:] is exactly the remembered path from state (shift, fn) upwards."""
        for p in proof[k:]:
            known = self._known.get((shift, fn))
            if sn == 0 or known is None or known[1] != p:
                return False
            if fn & 1 or fn == sn:
                while fn and not fn & 1:
                    fn, sn, shift = fn >> 1, sn >> 1, shift + 1
            fn, sn, shift = fn >> 1, sn >> 1, shift + 1
        return sn == 0

    def _remember(self, trail: list[tuple[tuple[int, int], bytes, bytes]]) -> None:
        if len(self._known) > MAX_REMEMBERED:
            self._known.clear()
        for key, r, p in trail:
            self._known[key] = (r, p)
