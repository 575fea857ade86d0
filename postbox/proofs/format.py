"""The proof bundle's layout: file names, line formats, times and the manifest signature.

Shared by the exporter and the offline verifier, so it imports only the standard library and
crypto/. A bundle is a zip of:

- ``manifest.json``: format, selection, checkpoint (size, root), evidence count, signing key id,
  and the SHA-256 and size of every other file; ``manifest.sig``: base64 Ed25519 signature by
  the service's evidence key over ``"postbox-proof-manifest-v1\\n" || manifest.json``.
- ``evidences.jsonl``: one evidence a line, in log order: ``leaf_index``, ``body`` (the signed
  canonical JSON, as a string), ``signature``, ``countersignature`` and ``recipient_key``
  (base64; the last two on ``retrieved`` only).
- ``inclusion.jsonl``: the same lines' inclusion proofs into the one checkpoint.
- ``checkpoint.txt`` (C2SP signed note with cosignatures), ``trust.json``, ``parties.json``,
  ``VERIFY.md``, and optionally ``salts.json`` (commitment salts, when the recipient adds them).
"""
from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

FORMAT = "postbox-proof-bundle/1"
MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig"
EVIDENCES = "evidences.jsonl"
INCLUSION = "inclusion.jsonl"
CHECKPOINT = "checkpoint.txt"
TRUST = "trust.json"
PARTIES = "parties.json"
GUIDE = "VERIFY.md"
SALTS = "salts.json"
REQUIRED_FILES = (GUIDE, TRUST, CHECKPOINT, EVIDENCES, INCLUSION, PARTIES)
EVIDENCE_FIELDS = {"leaf_index", "body", "signature", "countersignature", "recipient_key"}
INCLUSION_FIELDS = {"leaf_index", "leaf_hash", "proof"}
MANIFEST_CONTEXT = "postbox-proof-manifest-v1"
MAX_LINE = 1 << 20  # one evidence line; anything longer is refused, not buffered
_STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"


class BundleFormatError(ValueError):
    """A bundle file or line does not follow this format."""


def stamp(at: datetime) -> str:
    """RFC 3339 UTC with microseconds, as in evidence bodies."""
    return at.astimezone(UTC).strftime(_STAMP)


def parse_stamp(text: Any) -> datetime:
    if not isinstance(text, str) or not text.endswith("Z"):
        raise BundleFormatError(f"not a UTC time: {str(text)[:40]!r}")
    try:
        value = datetime.fromisoformat(text[:-1])
    except ValueError:
        raise BundleFormatError(f"not an RFC 3339 time: {text[:40]!r}") from None
    if value.tzinfo is not None:
        raise BundleFormatError(f"not a UTC time: {text[:40]!r}")
    return value.replace(tzinfo=UTC)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise BundleFormatError(f"{what} is not a base64 string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BundleFormatError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode() != text:  # one spelling per value: every byte counts
        raise BundleFormatError(f"{what} is not canonical base64")
    return raw


def evidence_line(leaf_index: int, body: bytes, signature: bytes,
                  countersignature: bytes | None, recipient_key: bytes | None) -> bytes:
    line: dict[str, Any] = {"leaf_index": leaf_index, "body": body.decode("utf-8"),
                            "signature": b64(signature)}
    if countersignature is not None:
        line["countersignature"] = b64(countersignature)
        line["recipient_key"] = b64(recipient_key) if recipient_key is not None else None
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def inclusion_line(leaf_index: int, leaf_hash: bytes, proof: list[bytes]) -> bytes:
    line = {"leaf_index": leaf_index, "leaf_hash": b64(leaf_hash),
            "proof": [b64(p) for p in proof]}
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"

