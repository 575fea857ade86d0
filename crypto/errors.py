"""Errors of crypto/: one base class. Decryption failures are deliberately opaque."""
from __future__ import annotations


class CryptoError(Exception):
    """Base of every error crypto/ raises."""


class OpenError(CryptoError):
    """Something could not be opened: wrong key, wrong PIN, tampered, truncated, swapped.

    Carries no detail on purpose, so an attacker learns nothing from which check failed.
    """

    def __init__(self) -> None:
        super().__init__("could not open")


class SignatureError(CryptoError):
    """A signature did not verify under the given key."""


class KeyFormatError(CryptoError):
    """A key, id or parameter handed to a recipe is malformed (a caller bug, not an attack)."""
