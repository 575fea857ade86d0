"""Small secrets sealed under the service master key (TOTP seeds, anti-phishing phrases).

Threat model: a database dump alone reveals none of these; the master key alone reveals nothing
either. AES-256-GCM under a per-purpose subkey, associated data = purpose || subject id, so a
sealed value cannot be moved to another row or purpose. Format: 0x01 || nonce (12) || ct || tag.
"""
from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import OpenError
from crypto.kdf import subkey

BOX_VERSION = 1


def _ad(purpose: str, subject_id: str) -> bytes:
    return f"postbox/v1/secretbox\x00{purpose}\x00{subject_id}".encode()


def seal_secret(master_key: bytes, purpose: str, subject_id: str, plaintext: bytes) -> bytes:
    nonce = os.urandom(12)
    aead = AESGCM(subkey(master_key, "secretbox/" + purpose))
    return bytes([BOX_VERSION]) + nonce + aead.encrypt(nonce, plaintext, _ad(purpose, subject_id))


def open_secret(master_key: bytes, purpose: str, subject_id: str, sealed: bytes) -> bytes:
    if len(sealed) < 29 or sealed[0] != BOX_VERSION:
        raise OpenError()
    aead = AESGCM(subkey(master_key, "secretbox/" + purpose))
    try:
        return aead.decrypt(sealed[1:13], sealed[13:], _ad(purpose, subject_id))
    except InvalidTag:
        raise OpenError() from None
