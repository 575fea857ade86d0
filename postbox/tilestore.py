"""The evidence log's stored hashes as tiles: reading them for proofs, growing them on append.

Owns the ``log_tiles`` table's contents (C2SP tlog-tiles, height 8: 256 hashes of tree level
8*L per row, the rightmost tile of each level growing in place). :class:`TileReader` is a
``crypto.merkle.HashReader`` over tiles with a bounded cache of whole tile subtrees, so a proof
for any size reads O(log n) hashes from a handful of rows; :class:`PathMaker` makes many
inclusion proofs of one tree cheaply (bundle exports); :func:`append_leaves` computes the
tiles a batch of new leaves changes. Nothing here is trusted by a verifier: every proof made
from tiles is checked against a signed checkpoint.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from crypto.merkle import (
    EMPTY_ROOT,
    ProofError,
    node_hash,
    split_stored_hash_index,
    stored_hash_count,
    stored_hashes_for_record_hash,
    tree_hash,
)
from crypto.tiles import TILE_HEIGHT, new_tiles, read_tile_data
from postbox.models import LogTile

TileKey = tuple[int, int]  # (tile level, tile index)
Fetch = Callable[[Sequence[TileKey]], dict[TileKey, bytes]]


def _tile_tree(data: bytes) -> list[list[bytes]]:
    """A tile's hashes and every complete inner node above them, level by level."""
    level = [data[i:i + 32] for i in range(0, len(data), 32)]
    levels = [level]
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        levels.append(level)
    return levels


class TileReader:
    """A `crypto.merkle.HashReader` over tiles, with a bounded LRU cache and a write overlay.

    ``fetch`` returns tile bytes by (level, index); ``overlay`` holds stored hashes computed but
    not yet written (the sequencer's batch). Nothing here is trusted: proofs built from it are
    checked against signed checkpoints by whoever receives them.
    """

    def __init__(self, fetch: Fetch, max_tiles: int = 256) -> None:
        self._fetch = fetch
        self._cache: OrderedDict[TileKey, list[list[bytes]]] = OrderedDict()
        self._max = max_tiles
        self.overlay: dict[int, bytes] = {}

    def node(self, level: int, index: int) -> bytes:
        """The hash of the perfect subtree of 2^level leaves starting at leaf index << level."""
        tile_level, within = divmod(level, TILE_HEIGHT)
        tile_index = (index << within) >> TILE_HEIGHT
        key = (tile_level, tile_index)
        tree = self._cache.get(key)
        if tree is None:
            fetched = self._fetch([key])
            if key not in fetched:
                raise ProofError(f"tile {key} is missing from the log store")
            tree = _tile_tree(fetched[key])
            self._remember(key, tree)
        try:
            return tree[within][index - ((tile_index << TILE_HEIGHT) >> within)]
        except IndexError:
            raise ProofError(f"node ({level}, {index}) is beyond tile {key}") from None

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        located: list[tuple[TileKey, int, int] | None] = []
        missing: list[TileKey] = []
        for index in indexes:
            if index in self.overlay:
                located.append(None)
                continue
            level, n = split_stored_hash_index(index)
            tile_level, within = divmod(level, TILE_HEIGHT)
            tile_index = (n << within) >> TILE_HEIGHT
            position = n - ((tile_index << TILE_HEIGHT) >> within)
            key = (tile_level, tile_index)
            located.append((key, within, position))
            if key not in self._cache and key not in missing:
                missing.append(key)
        if missing:
            fetched = self._fetch(missing)
            for key in missing:
                if key not in fetched:
                    raise ProofError(f"tile {key} is missing from the log store")
                self._remember(key, _tile_tree(fetched[key]))
        out = []
        for index, where in zip(indexes, located):
            if where is None:
                out.append(self.overlay[index])
                continue
            key, within, position = where
            tree = self._cache[key]
            self._cache.move_to_end(key)
            try:
                out.append(tree[within][position])
            except IndexError:
                raise ProofError(f"stored hash {index} is beyond tile {key}") from None
        return out

    def forget(self, keys: Iterable[TileKey]) -> None:
        for key in keys:
            self._cache.pop(key, None)

    def _remember(self, key: TileKey, tree: list[list[bytes]]) -> None:
        self._cache[key] = tree
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)


class PathMaker:
    """Inclusion proofs for many leaves of one tree (a bundle export): straight from tile
    coordinates, with the right edge's partial subtrees computed once. Equal to
    ``crypto.merkle.prove_record`` (tested), only faster."""

    def __init__(self, reader: TileReader, size: int) -> None:
        self.reader, self.size = reader, size
        self._edges: dict[tuple[int, int], bytes] = {}

    def path(self, n: int) -> list[bytes]:
        if not 0 <= n < self.size:
            raise ProofError(f"leaf index {n} is not below tree size {self.size}")
        out = []
        lo, hi = 0, self.size
        while hi - lo > 1:
            k = 1 << ((hi - lo - 1).bit_length() - 1)
            if n < lo + k:
                out.append(self._range(lo + k, hi))
                hi = lo + k
            else:
                out.append(self._range(lo, lo + k))
                lo += k
        out.reverse()
        return out

    def _range(self, lo: int, hi: int) -> bytes:
        width = hi - lo
        if width & (width - 1) == 0:  # a perfect subtree: one node of a tile
            level = width.bit_length() - 1
            return self.reader.node(level, lo >> level)
        cached = self._edges.get((lo, hi))
        if cached is None:  # the right edge: perfect parts, folded right to left
            parts = []
            start = lo
            while start < hi:
                part = 1 << ((hi - start).bit_length() - 1)
                level = part.bit_length() - 1
                parts.append(self.reader.node(level, start >> level))
                start += part
            cached = parts[-1]
            for left in reversed(parts[:-1]):
                cached = node_hash(left, cached)
            self._edges[(lo, hi)] = cached
        return cached


def db_fetch(session: Session) -> Fetch:
    def fetch(keys: Sequence[TileKey]) -> dict[TileKey, bytes]:
        rows = session.execute(select(LogTile.level, LogTile.idx, LogTile.data)
                               .where(tuple_(LogTile.level, LogTile.idx).in_(list(keys))))
        return {(level, idx): bytes(data) for level, idx, data in rows}
    return fetch


def append_leaves(reader: TileReader, size: int, leaves: Sequence[bytes]) -> tuple[
        dict[TileKey, bytes], bytes]:
    """Grow a tree of ``size`` leaves by ``leaves`` (leaf hashes): the tiles to write, new root."""
    for i, leaf in enumerate(leaves):
        n = size + i
        hashes = stored_hashes_for_record_hash(n, leaf, reader)
        start = stored_hash_count(n)
        for j, h in enumerate(hashes):
            reader.overlay[start + j] = h
    new_size = size + len(leaves)
    tiles = {(t.level, t.index): read_tile_data(t, reader)
             for t in new_tiles(TILE_HEIGHT, size, new_size)}
    root = tree_hash(new_size, reader) if new_size else EMPTY_ROOT
    return tiles, root


def write_tiles(session: Session, tiles: dict[TileKey, bytes]) -> None:
    existing = {(t.level, t.idx): t for t in session.scalars(
        select(LogTile).where(tuple_(LogTile.level, LogTile.idx).in_(list(tiles))))}
    for (level, idx), data in tiles.items():
        row = existing.get((level, idx))
        if row is None:
            session.add(LogTile(level=level, idx=idx, data=data))
        elif len(data) > len(row.data):  # a partial tile only ever grows, never changes
            if not data.startswith(bytes(row.data)):
                raise ProofError(f"refusing to rewrite tile {(level, idx)}: the log is "
                                 "append-only")
            row.data = data
