"""Ed25519 signatures over canonical JSON (RFC 8785), with key ids.

Threat model: evidence must be checkable by anyone holding the public key, offline, and must not
be forgeable by a party without the signing key. Each signature is over a domain-separated
message (``context || "\\n" || canonical JSON``) so a signature made for one purpose (evidence,
recipient countersignature) cannot be replayed as another.
"""
from __future__ import annotations

import hashlib
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.hazmat.primitives.serialization import PublicFormat

from crypto.errors import KeyFormatError, SignatureError

EVIDENCE_CONTEXT = "postbox-evidence-v1"
COUNTERSIGN_CONTEXT = "postbox-retrieval-countersignature-v1"


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical bytes of a JSON value (floats refused: we never sign them)."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise KeyFormatError(f"not canonicalisable JSON: {exc}") from None


def generate_signing_seed() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw,
                                                      NoEncryption())


def public_key_of(seed: bytes) -> bytes:
    try:
        key = Ed25519PrivateKey.from_private_bytes(seed)
    except ValueError:
        raise KeyFormatError("an Ed25519 seed is 32 bytes") from None
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: bytes) -> str:
    """A short stable name of a public key: hex of the first 8 bytes of its SHA-256."""
    if len(public_key) != 32:
        raise KeyFormatError("an Ed25519 public key is 32 bytes")
    return hashlib.sha256(public_key).hexdigest()[:16]


def _message(context: str, body: bytes) -> bytes:
    return context.encode() + b"\n" + body


def sign(body: bytes, seed_or_key: bytes | Ed25519PrivateKey, context: str) -> bytes:
    key = (seed_or_key if isinstance(seed_or_key, Ed25519PrivateKey)
           else Ed25519PrivateKey.from_private_bytes(seed_or_key))
    return key.sign(_message(context, body))


def verify(body: bytes, signature: bytes, public_key: bytes, context: str) -> None:
    """Raise :class:`SignatureError` unless ``signature`` is valid for ``body`` under the key."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, _message(context, body))
    except (InvalidSignature, ValueError):
        raise SignatureError("signature does not verify") from None


def sign_evidence(record: dict[str, Any], seed: bytes) -> tuple[bytes, bytes]:
    """Canonicalise an evidence record and sign it; returns (canonical body, signature)."""
    body = canonical_json(record)
    return body, sign(body, seed, EVIDENCE_CONTEXT)


def verify_evidence(body: bytes, signature: bytes, public_key: bytes) -> None:
    verify(body, signature, public_key, EVIDENCE_CONTEXT)


def countersign_retrieval(body: bytes, recipient_key: Ed25519PrivateKey) -> bytes:
    """The recipient's own signature over a ``retrieved`` evidence body."""
    return sign(body, recipient_key, COUNTERSIGN_CONTEXT)


def verify_countersignature(body: bytes, signature: bytes, recipient_public: bytes) -> None:
    verify(body, signature, recipient_public, COUNTERSIGN_CONTEXT)
