"""Evidence signatures over canonical JSON; tampering and context confusion refused."""
from __future__ import annotations

import pytest

from crypto.errors import KeyFormatError, SignatureError
from crypto.keys import RecipientKeyPair
from crypto.signing import (
    canonical_json, countersign_retrieval, generate_signing_seed, key_id, public_key_of,
    sign_evidence, verify_countersignature, verify_evidence,
)


def test_canonical_json_is_rfc8785() -> None:
    assert canonical_json({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()


def test_sign_and_verify() -> None:
    seed = generate_signing_seed()
    body, sig = sign_evidence({"event": "consigned", "n": 1}, seed)
    verify_evidence(body, sig, public_key_of(seed))
    assert len(key_id(public_key_of(seed))) == 16


def test_tampered_body_signature_or_key_fails() -> None:
    seed = generate_signing_seed()
    body, sig = sign_evidence({"event": "consigned"}, seed)
    pub = public_key_of(seed)
    for i in range(len(body)):
        bad = bytearray(body)
        bad[i] ^= 1
        with pytest.raises(SignatureError):
            verify_evidence(bytes(bad), sig, pub)
    for i in range(len(sig)):
        bad = bytearray(sig)
        bad[i] ^= 1
        with pytest.raises(SignatureError):
            verify_evidence(body, bytes(bad), pub)
    with pytest.raises(SignatureError):
        verify_evidence(body, sig, public_key_of(generate_signing_seed()))


def test_countersignature_is_not_an_evidence_signature() -> None:
    keys = RecipientKeyPair.generate()
    body = canonical_json({"event": "retrieved"})
    counter = countersign_retrieval(body, keys.ed25519)
    verify_countersignature(body, counter, keys.public().ed25519)
    with pytest.raises(SignatureError):
        verify_evidence(body, counter, keys.public().ed25519)


def test_floats_are_refused_in_signed_json() -> None:
    with pytest.raises(KeyFormatError):
        canonical_json({"x": float("nan")})
