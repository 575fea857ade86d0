"""Recipient key pairs and their wrapping under a key-encryption key.

A recipient owns an X25519 key (documents are sealed to it) and an Ed25519 key (countersigns
retrieval evidence). The private halves exist at rest only wrapped: AES-256-GCM under a KEK
derived from the PIN, the recovery code, the activation code, or a random session key. The
associated data binds purpose, recipient id and key version, so a wrapped blob cannot be
replayed under another purpose or recipient. Any unwrap failure is the same opaque OpenError.

Wrapped blob: version (1 byte, 0x01) || nonce (12) || AES-256-GCM(x25519 || ed25519 seed) (64+16).
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.hazmat.primitives.serialization import PublicFormat

from crypto.errors import KeyFormatError, OpenError
from crypto.ids import id_bytes

WRAP_VERSION = 1
WRAP_AD_PREFIX = b"postbox/v1/wrap"
WRAPPED_LEN = 1 + 12 + 64 + 16
PURPOSES = ("pin", "recovery", "activation", "session")


def _raw_private(key: X25519PrivateKey | Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


@dataclass(frozen=True)
class PublicKeys:
    x25519: bytes
    ed25519: bytes


@dataclass(frozen=True, repr=False)
class RecipientKeyPair:
    """Both private keys of a recipient. ``repr`` is hidden so keys never reach a log."""

    x25519: X25519PrivateKey
    ed25519: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> "RecipientKeyPair":
        return cls(X25519PrivateKey.generate(), Ed25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, raw: bytes) -> "RecipientKeyPair":
        if len(raw) != 64:
            raise KeyFormatError("a recipient key pair is 64 bytes")
        return cls(
            X25519PrivateKey.from_private_bytes(raw[:32]),
            Ed25519PrivateKey.from_private_bytes(raw[32:]),
        )

    def to_bytes(self) -> bytes:
        return _raw_private(self.x25519) + _raw_private(self.ed25519)

    def public(self) -> PublicKeys:
        return PublicKeys(
            x25519=self.x25519.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
            ed25519=self.ed25519.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
        )

    def __repr__(self) -> str:
        return "RecipientKeyPair(<hidden>)"


def _wrap_ad(purpose: str, recipient_id: str, key_version: int) -> bytes:
    if purpose not in PURPOSES:
        raise KeyFormatError(f"unknown wrap purpose {purpose!r}")
    return (
        WRAP_AD_PREFIX
        + struct.pack(">B", len(purpose))
        + purpose.encode()
        + id_bytes(recipient_id)
        + struct.pack(">I", key_version)
    )


def wrap_private_keys(
    keys: RecipientKeyPair, kek: bytes, *, purpose: str, recipient_id: str, key_version: int
) -> bytes:
    """Encrypt both private keys under ``kek`` (32 bytes) for one purpose."""
    if len(kek) != 32:
        raise KeyFormatError("a KEK is 32 bytes")
    nonce = os.urandom(12)
    ad = _wrap_ad(purpose, recipient_id, key_version)
    return bytes([WRAP_VERSION]) + nonce + AESGCM(kek).encrypt(nonce, keys.to_bytes(), ad)


def unwrap_private_keys(
    blob: bytes, kek: bytes, *, purpose: str, recipient_id: str, key_version: int
) -> RecipientKeyPair:
    """Inverse of :func:`wrap_private_keys`; any failure is the opaque :class:`OpenError`."""
    ad = _wrap_ad(purpose, recipient_id, key_version)
    if len(blob) != WRAPPED_LEN or blob[0] != WRAP_VERSION or len(kek) != 32:
        raise OpenError()
    try:
        raw = AESGCM(kek).decrypt(blob[1:13], blob[13:], ad)
    except InvalidTag:
        raise OpenError() from None
    return RecipientKeyPair.from_bytes(raw)


def new_session_key() -> bytes:
    """A random 32-byte key held only by the client (in its session cookie)."""
    return os.urandom(32)


@dataclass(frozen=True, repr=False)
class BoxKeyPair:
    """An X25519 key pair that only receives (an organisation's reply key). Documents sealed to
    its public half with :mod:`crypto.envelope` open only with this private half."""

    x25519: X25519PrivateKey

    @classmethod
    def generate(cls) -> "BoxKeyPair":
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, raw: bytes) -> "BoxKeyPair":
        if len(raw) != 32:
            raise KeyFormatError("an X25519 private key is 32 bytes")
        return cls(X25519PrivateKey.from_private_bytes(raw))

    def to_bytes(self) -> bytes:
        return _raw_private(self.x25519)

    def public_bytes(self) -> bytes:
        return self.x25519.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def __repr__(self) -> str:
        return "BoxKeyPair(<hidden>)"
