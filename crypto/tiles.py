"""Tiles of the evidence log's stored hashes (C2SP tlog-tiles, Go's sumdb/tlog tile.go).

Owns the maths between a stored-hash index (crypto.merkle's layout) and the tile that holds it,
which tiles a log writes as it grows, tile paths, and a `HashReader` backed by tiles so proofs for
a log of 10^7 leaves read a handful of 8 KiB objects.

Threat model: tiles come from storage or a server we do not trust. Nothing here authenticates a
tile; a hash read through `TileHashReader` ends up in a proof or root that is checked against a
signed checkpoint, so a tampered tile makes that check fail rather than pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from crypto.merkle import (
    HASH_SIZE,
    HashReader,
    ProofError,
    node_hash,
    split_stored_hash_index,
    stored_hash_count,
    stored_hash_index,
)
from crypto.errors import CryptoError

TILE_HEIGHT = 8  # tlog-tiles fixes 256 hashes per tile
_PATH = re.compile(r"tile/(0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?")


class TileError(CryptoError, ValueError):
    """A tile, tile path or tile's data is malformed or does not hold the asked-for hash."""


@dataclass(frozen=True)
class Tile:
    """`width` consecutive hashes at tree level `level * height`, starting at `index << height`."""

    height: int
    level: int
    index: int
    width: int

    def __post_init__(self) -> None:
        if not 1 <= self.height <= 30 or not 0 <= self.level < 64 or self.index < 0:
            raise TileError(f"invalid tile {self!r}")
        if not 1 <= self.width <= 1 << self.height:
            raise TileError(f"invalid tile width {self.width} for height {self.height}")

    @property
    def full(self) -> bool:
        return self.width == 1 << self.height

    def path(self) -> str:
        """The tlog-tiles path `tile/<L>/<N>[.p/<W>]` (defined only for height 8)."""
        if self.height != TILE_HEIGHT:
            raise TileError("tlog-tiles paths exist only for tiles of height 8")
        digits = f"{self.index:d}"
        digits = "0" * (-len(digits) % 3) + digits
        groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
        n = "/".join([f"x{g}" for g in groups[:-1]] + groups[-1:])
        return f"tile/{self.level}/{n}" + ("" if self.full else f".p/{self.width}")


def parse_tile_path(path: str) -> Tile:
    """Inverse of `Tile.path`; rejects non-canonical spellings."""
    match = _PATH.fullmatch(path)
    if not match:
        raise TileError(f"malformed tile path {path!r}")
    level, groups, width = match.groups()
    n = int(groups.replace("x", "").replace("/", ""))
    tile = Tile(TILE_HEIGHT, int(level), n, int(width) if width else 1 << TILE_HEIGHT)
    if tile.path() != path:  # e.g. "x000/" leading groups or a partial tile of full width
        raise TileError(f"non-canonical tile path {path!r}")
    return tile


def locate(height: int, index: int) -> tuple[Tile, int, int]:
    """The smallest tile from which stored hash `index` can be computed, and the range of tile
    hashes [start, end) that hash up to it."""
    level, n = split_stored_hash_index(index)
    tile_level, within = divmod(level, height)
    tile_index = (n << within) >> height
    n -= (tile_index << height) >> within  # now n counts within the tile, at `within`
    start, end = n << within, (n + 1) << within
    return Tile(height, tile_level, tile_index, end), start, end


def tile_for_index(height: int, index: int) -> Tile:
    """The smallest tile from which stored hash `index` can be computed."""
    return locate(height, index)[0]


def hash_from_tile(tile: Tile, data: bytes, index: int) -> bytes:
    """Stored hash `index`, computed from `tile`'s `data`."""
    if len(data) != tile.width * HASH_SIZE:
        raise TileError(f"tile {tile} has {len(data)} bytes, want {tile.width * HASH_SIZE}")
    needed, start, end = locate(tile.height, index)
    if (needed.level, needed.index) != (tile.level, tile.index) or tile.width < needed.width:
        raise TileError(f"stored hash {index} is in {needed}, not {tile}")
    return _subtree(data[start * HASH_SIZE : end * HASH_SIZE])


def new_tiles(height: int, old_size: int, new_size: int) -> list[Tile]:
    """Tiles, full or partial, that growing the log from `old_size` to `new_size` leaves to write."""
    tiles = []
    level = 0
    while new_size >> (height * level) > 0:
        old_n, new_n = old_size >> (height * level), new_size >> (height * level)
        if old_n != new_n:
            for n in range(old_n >> height, new_n >> height):
                tiles.append(Tile(height, level, n, 1 << height))
            n = new_n >> height
            if width := new_n - (n << height):
                tiles.append(Tile(height, level, n, width))
        level += 1
    return tiles


def read_tile_data(tile: Tile, reader: HashReader) -> bytes:
    """The bytes of `tile`, gathered from the stored hashes (what a log writes to storage)."""
    first = tile.index << tile.height
    level = tile.level * tile.height
    indexes = [stored_hash_index(level, first + i) for i in range(tile.width)]
    hashes = reader.read_hashes(indexes)
    if len(hashes) != len(indexes):
        raise ProofError(f"hash reader returned {len(hashes)} hashes for {len(indexes)} indexes")
    return b"".join(hashes)


class TileHashReader:
    """A `HashReader` over tiles for a tree of `tree_size` leaves; `fetch` returns tile bytes."""

    def __init__(
        self,
        tree_size: int,
        fetch: Callable[[Sequence[Tile]], Sequence[bytes]],
        height: int = TILE_HEIGHT,
    ) -> None:
        self._tree_size = tree_size
        self._fetch = fetch
        self._height = height

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        limit = stored_hash_count(self._tree_size)
        wanted = []
        for index in indexes:
            if not 0 <= index < limit:
                raise ProofError(f"stored hash {index} is not in a tree of {self._tree_size}")
            wanted.append(self._widest(tile_for_index(self._height, index)))
        unique = list(dict.fromkeys(wanted))
        blobs = list(self._fetch(unique))
        if len(blobs) != len(unique):
            raise TileError(f"fetched {len(blobs)} tiles for {len(unique)} requested")
        data = dict(zip(unique, blobs))
        return [hash_from_tile(t, data[t], i) for t, i in zip(wanted, indexes)]

    def _widest(self, tile: Tile) -> Tile:
        """The same tile at the width this tree has, so one fetch serves every index in it."""
        hashes_at_level = self._tree_size >> (tile.level * tile.height)
        width = min(1 << tile.height, hashes_at_level - (tile.index << tile.height))
        return Tile(tile.height, tile.level, tile.index, width)


def _subtree(data: bytes) -> bytes:
    """Root of a power-of-two run of hashes laid end to end."""
    if len(data) == HASH_SIZE:
        return data
    half = len(data) // 2
    return node_hash(_subtree(data[:half]), _subtree(data[half:]))
