"""Password hashing for staff accounts: Argon2id as a standard PHC string.

Threat model: a stolen database must not hand over staff passwords cheaply. Each password is
stretched with Argon2id (memory-hard, random 16-byte salt per hash) and stored as the PHC string
``$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>`` (unpadded base64), which any
Argon2 implementation checks and which carries its own costs, so costs can rise later
(:func:`needs_rehash`). The hashing itself is cryptography's (``derive_phc_encoded`` /
``verify_phc_encoded``); this module adds what a service needs around it:

- one answer for every failure: a wrong password, a malformed or foreign string, all ``False``;
- a cost ceiling checked *before* any work, so a tampered row cannot make one login cost
  gigabytes or minutes;
- Unicode NFKC normalisation (NIST SP 800-63B), so the same password typed on another keyboard
  or system still matches.

No pepper here on purpose: a pepper derived from the master key would have to follow every
master-key rotation; the caller pairs the password with a TOTP secret sealed under the master
key, so a dump alone still does not let anyone log in.
"""
from __future__ import annotations

import base64
import binascii
import os
import re
import unicodedata
from dataclasses import dataclass

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from crypto.kdf import Argon2Params

SALT_BYTES = 16
HASH_BYTES = 32
_PHC = re.compile(r"\$argon2id\$v=19\$m=([0-9]{1,10}),t=([0-9]{1,5}),p=([0-9]{1,4})"
                  r"\$([A-Za-z0-9+/]{11,86})\$([A-Za-z0-9+/]{22,172})")


@dataclass(frozen=True)
class Ceiling:
    """The most a stored hash may ask for before it is refused unread."""

    memory_kib: int = 1024 * 1024  # 1 GiB
    iterations: int = 16
    lanes: int = 16


@dataclass(frozen=True)
class _Parsed:
    params: Argon2Params
    salt: bytes
    digest: bytes


def _normalise(password: str) -> bytes:
    if not isinstance(password, str):
        raise TypeError("a password is a str")
    return unicodedata.normalize("NFKC", password).encode("utf-8")


def _b64decode(text: str) -> bytes | None:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _parse(encoded: str) -> _Parsed | None:
    if not isinstance(encoded, str):
        return None
    found = _PHC.fullmatch(encoded)
    if found is None:
        return None
    memory, iterations, lanes = (int(found.group(i)) for i in (1, 2, 3))
    salt, digest = _b64decode(found.group(4)), _b64decode(found.group(5))
    if salt is None or digest is None or len(salt) < 8 or len(digest) < 16:
        return None
    return _Parsed(Argon2Params(memory_kib=memory, iterations=iterations, lanes=lanes),
                   salt, digest)


def hash_password(password: str, params: Argon2Params, *, salt: bytes | None = None) -> str:
    """The PHC string for ``password`` (a fresh random salt unless one is given, for vectors)."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    if len(salt) < 8:
        raise ValueError("an Argon2 salt is at least 8 bytes")
    kdf = Argon2id(salt=salt, length=HASH_BYTES, iterations=params.iterations,
                   lanes=params.lanes, memory_cost=params.memory_kib)
    return kdf.derive_phc_encoded(_normalise(password))


def verify_password(password: str, encoded: str, ceiling: Ceiling = Ceiling()) -> bool:
    """Whether ``password`` matches ``encoded``; False for anything malformed or too costly."""
    parsed = _parse(encoded)
    if parsed is None:
        return False
    p = parsed.params
    if not (1 <= p.lanes <= ceiling.lanes and 1 <= p.iterations <= ceiling.iterations
            and 8 * p.lanes <= p.memory_kib <= ceiling.memory_kib):
        return False
    try:
        Argon2id.verify_phc_encoded(_normalise(password), encoded)
    except (InvalidKey, ValueError):
        return False
    return True


def needs_rehash(encoded: str, params: Argon2Params) -> bool:
    """True when ``encoded`` was made with other costs (or is not ours): hash it anew at the
    next successful login, while the password is at hand."""
    parsed = _parse(encoded)
    return parsed is None or parsed.params != params or len(parsed.digest) != HASH_BYTES
