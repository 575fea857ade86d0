"""Callers' streams for put tests."""
from __future__ import annotations

import io
import os


class Failing(io.RawIOBase):
    """A caller's stream that yields `good` bytes, then raises, as a broken upload would."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.left <= 0:
            raise ConnectionResetError("client went away")
        n = min(len(buffer), self.left)
        buffer[:n] = b"\x5a" * n
        self.left -= n
        return n


class Generated(io.RawIOBase):
    """A caller's stream of n bytes that never holds more than one 64 KiB block."""

    def __init__(self, n: int) -> None:
        self.left = n
        self.block = os.urandom(64 * 1024)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left, len(self.block))
        buffer[:n] = self.block[:n]
        self.left -= n
        return n
