"""The trust file: every key a verifier needs, with the periods in which each was valid.

``trust.json`` names the log (origin and checkpoint keys), every evidence signing key the
service ever used (Ed25519, key id, valid from / until), the witnesses and how many of their
cosignatures a checkpoint needs. Pure (standard library and crypto/), so the offline verifier
reads it without a database. A verifier should keep its own copy (``--trust FILE``) rather
than believe the one inside a bundle.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crypto.errors import CryptoError
from crypto.signing import key_id as key_id_of
from postbox.proofs.format import BundleFormatError, b64, parse_stamp, stamp, unb64

FORMAT = "postbox-trust/1"


class TrustError(ValueError):
    """The trust file is malformed or contradicts itself."""


@dataclass(frozen=True)
class EvidenceKey:
    key_id: str
    public_key: bytes
    valid_from: datetime
    valid_until: datetime | None

    def valid_at(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)

    def period(self) -> str:
        until = stamp(self.valid_until) if self.valid_until else "(still valid)"
        return f"{stamp(self.valid_from)} to {until}"


@dataclass(frozen=True)
class Trust:
    origin: str
    log_keys: tuple[str, ...]
    evidence_keys: dict[str, EvidenceKey]
    witnesses: tuple[str, ...]
    cosignatures_required: int
    sha256: str


def dump_trust(origin: str, log_keys: list[str], evidence_keys: list[EvidenceKey],
               witnesses: list[str], cosignatures_required: int, service: str) -> bytes:
    doc = {
        "format": FORMAT,
        "service": service,
        "origin": origin,
        "log_keys": [{"verifier": k} for k in log_keys],
        "evidence_keys": [{"key_id": k.key_id, "algorithm": "ed25519",
                           "public_key": b64(k.public_key), "valid_from": stamp(k.valid_from),
                           "valid_until": stamp(k.valid_until) if k.valid_until else None}
                          for k in evidence_keys],
        "witnesses": [{"verifier": w} for w in witnesses],
        "cosignatures_required": cosignatures_required,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False).encode() + b"\n"


def _list(doc: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = doc.get(name)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise TrustError(f"{name} must be a list of objects")
    return value


def parse_trust(data: bytes) -> Trust:
    """Parse and check a trust file; TrustError says what is wrong."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise TrustError("not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise TrustError(f"not a {FORMAT} file")
    origin = doc.get("origin")
    if not isinstance(origin, str) or not origin:
        raise TrustError("origin is missing")
    log_keys = tuple(str(k.get("verifier", "")) for k in _list(doc, "log_keys"))
    if not log_keys or any(not k.startswith(origin + "+") for k in log_keys):
        raise TrustError("every log key must be named by the origin")
    keys: dict[str, EvidenceKey] = {}
    try:
        for entry in _list(doc, "evidence_keys"):
            public = unb64(entry.get("public_key"), "public_key")
            kid = entry.get("key_id")
            if len(public) != 32 or kid != key_id_of(public):
                raise TrustError(f"evidence key {kid!r} does not match its public key")
            until = entry.get("valid_until")
            key = EvidenceKey(kid, public, parse_stamp(entry.get("valid_from")),
                              parse_stamp(until) if until is not None else None)
            if key.valid_until is not None and key.valid_until <= key.valid_from:
                raise TrustError(f"evidence key {kid} ends before it starts")
            if kid in keys:
                raise TrustError(f"evidence key {kid} is listed twice")
            keys[kid] = key
    except (BundleFormatError, CryptoError) as exc:
        raise TrustError(str(exc)) from None
    witnesses = tuple(str(w.get("verifier", "")) for w in _list(doc, "witnesses"))
    required = doc.get("cosignatures_required")
    if not isinstance(required, int) or isinstance(required, bool) or not (
            0 <= required <= len(witnesses)):
        raise TrustError("cosignatures_required must be between 0 and the number of witnesses")
    return Trust(origin, log_keys, keys, witnesses, required, hashlib.sha256(data).hexdigest())
