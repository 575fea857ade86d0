"""Key derivation from human secrets (PIN, recovery code, activation code).

Threat model: a stolen database holds salts and wrapped keys. Because every derivation mixes in
the service pepper (Argon2id ``secret=``), a database alone allows no offline guessing; with the
pepper too, each guess still costs one memory-hard Argon2id run. ``ad=`` binds the result to the
recipient, so wrapped keys cannot be moved between recipients.
"""
from __future__ import annotations

import os
import threading
from contextlib import nullcontext
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.errors import KeyFormatError

SALT_BYTES = 16
PEPPER_BYTES = 32
KEK_INFO_PREFIX = b"postbox/v1/kek/"
_MULTI_LANE = threading.Lock()


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost. Production default m=64 MiB, t=3, p=2; tests pass cheap values."""

    memory_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 2


def new_salt() -> bytes:
    return os.urandom(SALT_BYTES)


def derive_kek(
    secret: str,
    *,
    salt: bytes,
    pepper: bytes,
    subject_id: bytes,
    purpose: str,
    params: Argon2Params,
) -> bytes:
    """KEK = HKDF-SHA256(Argon2id(secret, salt, secret=pepper, ad=subject_id), info=purpose)."""
    if len(pepper) != PEPPER_BYTES:
        raise KeyFormatError("pepper must be 32 bytes")
    if len(salt) != SALT_BYTES:
        raise KeyFormatError("salt must be 16 bytes")
    kdf = Argon2id(
        salt=salt,
        length=32,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
        ad=subject_id,
        secret=pepper,
    )
    # Two multi-lane derivations at once in one process hang for good (pyca/cryptography 50
    # on OpenSSL's threaded Argon2; tests/unit/crypto/test_kdf_concurrency.py). One runs at a
    # time; its lanes still use the cores, so throughput stays about the same.
    with _MULTI_LANE if params.lanes > 1 else nullcontext():
        stretched = kdf.derive(secret.encode("utf-8"))
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=KEK_INFO_PREFIX + purpose.encode()
    ).derive(stretched)


def subkey(master: bytes, label: str) -> bytes:
    """A 32-byte key for one purpose, derived from a 32-byte master key (HKDF-SHA256)."""
    if len(master) != 32:
        raise KeyFormatError("master key must be 32 bytes")
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"postbox/v1/subkey/" + label.encode()
    ).derive(master)
