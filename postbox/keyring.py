"""The service's secrets in one place: the master key (pepper) and the evidence signing key.

Also caps concurrent Argon2id derivations, so a login storm cannot exhaust memory: each
derivation takes ``memory_kib`` and at most ``argon2_max_concurrency`` run at once.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from crypto.ids import id_bytes
from crypto.kdf import Argon2Params, derive_kek, subkey
from crypto.secretbox import open_secret, seal_secret
from crypto.signing import key_id, public_key_of


@dataclass(frozen=True)
class EvidenceKey:
    seed: bytes = field(repr=False)
    key_id: str
    public_key: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> "EvidenceKey":
        public = public_key_of(seed)
        return cls(seed=seed, key_id=key_id(public), public_key=public)


class KeyRing:
    def __init__(
        self,
        master_key: bytes,
        argon2: Argon2Params,
        max_concurrency: int,
        evidence_key: EvidenceKey | None,
    ) -> None:
        self._master = master_key
        self.argon2 = argon2
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self.evidence_key = evidence_key

    def __repr__(self) -> str:
        return "KeyRing(<hidden>)"

    def kek(self, secret: str, *, salt: bytes, recipient_id: str, purpose: str) -> bytes:
        """Argon2id(secret, pepper) -> KEK; blocks while too many derivations run."""
        with self._slots:
            return derive_kek(secret, salt=salt, pepper=self._master,
                              subject_id=id_bytes(recipient_id), purpose=purpose,
                              params=self.argon2)

    def seal(self, purpose: str, subject_id: str, plaintext: bytes) -> bytes:
        return seal_secret(self._master, purpose, subject_id, plaintext)

    def open(self, purpose: str, subject_id: str, sealed: bytes) -> bytes:
        return open_secret(self._master, purpose, subject_id, sealed)

    def seal_key(self, label: str) -> bytes:
        """A 32-byte key for one purpose (e.g. an HMAC lookup), derived from the master key."""
        return subkey(self._master, label)
