"""The service's secrets in one place: the master key (pepper) and the evidence signing key.

Also caps concurrent Argon2id derivations, so a login storm cannot exhaust memory: each
derivation takes ``memory_kib`` and at most ``argon2_max_concurrency`` run at once.

After ``postbox keys rotate-master`` the ring also holds retired master keys, by fingerprint:
new material always uses the current key; old material opens with the key it was made with
until it has been re-wrapped (PIN wraps at their owner's next login, sealed secrets at once).
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

from crypto.errors import OpenError
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


def fingerprint(master_key: bytes) -> str:
    """A master key's public name (16 hex); 32 random bytes make it safe to show."""
    return hashlib.sha256(b"postbox/v1 master key id\x00" + master_key).hexdigest()[:16]


class KeyRing:
    def __init__(
        self,
        master_key: bytes,
        argon2: Argon2Params,
        max_concurrency: int,
        evidence_key: EvidenceKey | None,
        retired: list[bytes] | None = None,
    ) -> None:
        self._master = master_key
        self.pepper_id = fingerprint(master_key)
        self._retired = {fingerprint(k): k for k in retired or [] if k != master_key}
        self.argon2 = argon2
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self.evidence_key = evidence_key

    def __repr__(self) -> str:
        return "KeyRing(<hidden>)"

    @property
    def retired_ids(self) -> list[str]:
        return sorted(self._retired)

    def _pepper(self, pepper_id: str | None) -> bytes:
        if pepper_id is None or pepper_id == self.pepper_id:
            return self._master
        try:
            return self._retired[pepper_id]
        except KeyError:
            # The retired key file is gone: this wrap can no longer open, by anyone.
            raise OpenError() from None

    def kek(self, secret: str, *, salt: bytes, recipient_id: str, purpose: str,
            pepper_id: str | None = None) -> bytes:
        """Argon2id(secret, pepper) -> KEK, with the pepper the wrap was made with (None:
        current); blocks while too many derivations run."""
        pepper = self._pepper(pepper_id)
        with self._slots:
            return derive_kek(secret, salt=salt, pepper=pepper,
                              subject_id=id_bytes(recipient_id), purpose=purpose,
                              params=self.argon2)

    def seal(self, purpose: str, subject_id: str, plaintext: bytes) -> bytes:
        return seal_secret(self._master, purpose, subject_id, plaintext)

    def open(self, purpose: str, subject_id: str, sealed: bytes) -> bytes:
        """Open with the current key, else with a retired one (until re-sealed)."""
        return self._open_any(purpose, subject_id, sealed)[0]

    def _open_any(self, purpose: str, subject_id: str, sealed: bytes) -> tuple[bytes, bool]:
        try:
            return open_secret(self._master, purpose, subject_id, sealed), True
        except OpenError:
            for key in self._retired.values():
                try:
                    return open_secret(key, purpose, subject_id, sealed), False
                except OpenError:
                    continue
            raise

    def reseal(self, purpose: str, subject_id: str, sealed: bytes) -> bytes | None:
        """The value sealed under the current key if it was under a retired one, else None."""
        plaintext, current = self._open_any(purpose, subject_id, sealed)
        return None if current else self.seal(purpose, subject_id, plaintext)

    def seal_key(self, label: str) -> bytes:
        """A 32-byte key for one purpose (e.g. an HMAC lookup), derived from the master key."""
        return subkey(self._master, label)

    def lookup_keys(self, label: str) -> list[bytes]:
        """Subkeys for ``label`` under the current and every retired master key (current
        first), for keyed lookups made before a rotation."""
        return [subkey(k, label) for k in [self._master, *self._retired.values()]]
