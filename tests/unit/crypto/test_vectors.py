"""Open the checked-in vectors by following docs/format.md step by step.

Deliberately uses no code from crypto/: only the primitives the spec names, called directly, so
the spec (not our implementation) is what is tested.
"""
from __future__ import annotations

import base64
import hashlib
import json
import struct
from pathlib import Path

import pytest
from cryptography.cobblestone import Cobblestone256Decryptor
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

V = json.loads((Path(__file__).parents[2] / "vectors/envelope/v1.json").read_text())
SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(ikm)


@pytest.mark.parametrize("vec", V["documents"], ids=lambda v: v["name"])
def test_document_vector_opens_by_the_spec(vec: dict) -> None:
    sk = X25519PrivateKey.from_private_bytes(bytes.fromhex(V["recipient_private"]["x25519"]))
    blob = bytes.fromhex(vec["blob"])
    fixed = (bytes.fromhex(vec["document_id"]) + bytes.fromhex(vec["recipient_id"])
             + struct.pack(">I", vec["key_version"]))
    header = blob[:122]                                                     # step 1
    assert header[:4] == b"PBXD" and header[4] == 1 and header[5] == 1       # step 2
    assert header[6:42] == fixed
    info = b"postbox/v1 document key\x00" + bytes([1]) + fixed                # step 3
    data_key = SUITE.decrypt(header[42:122], sk, info=info)
    dec = Cobblestone256Decryptor(data_key, hashlib.sha256(header).digest())  # step 4
    plain = dec.update(blob[122:]) + dec.finalize()
    assert plain.hex() == vec["plaintext"]

    meta_key = hkdf(data_key, b"postbox/v1 metadata key")                    # section 3
    mdec = Cobblestone256Decryptor(meta_key, b"postbox/v1 metadata\x00"
                                   + hashlib.sha256(header).digest())
    meta = json.loads(mdec.update(bytes.fromhex(vec["sealed_meta"])) + mdec.finalize())
    salt = base64.b64decode(meta.pop("commitment_salt"))
    assert meta == vec["metadata"]
    assert hashlib.sha256(salt + plain).hexdigest() == vec["plaintext_commitment"]


def test_pin_wrap_vector_unwraps_by_the_spec() -> None:
    w = V["pin_wrap"]
    rid = bytes.fromhex(w["recipient_id"])
    stretched = Argon2id(salt=bytes.fromhex(w["salt"]), length=32, iterations=w["argon2"]["t"],
                         lanes=w["argon2"]["p"], memory_cost=w["argon2"]["m_kib"], ad=rid,
                         secret=bytes.fromhex(w["pepper"])).derive(w["pin"].encode())
    kek = hkdf(stretched, b"postbox/v1/kek/" + w["purpose"].encode())
    ad = (b"postbox/v1/wrap" + bytes([len(w["purpose"])]) + w["purpose"].encode() + rid
          + struct.pack(">I", w["key_version"]))
    wrapped = bytes.fromhex(w["wrapped"])
    assert wrapped[0] == 1 and len(wrapped) == 93
    raw = AESGCM(kek).decrypt(wrapped[1:13], wrapped[13:], ad)
    priv = V["recipient_private"]
    assert raw.hex() == priv["x25519"] + priv["ed25519_seed"]


def test_our_implementation_agrees_with_the_vectors() -> None:
    import io

    from crypto.envelope import DocumentAddress, open_document
    from crypto.keys import RecipientKeyPair

    keys = RecipientKeyPair.from_bytes(bytes.fromhex(V["recipient_private"]["x25519"]
                                                     + V["recipient_private"]["ed25519_seed"]))
    for vec in V["documents"]:
        addr = DocumentAddress(vec["document_id"], vec["recipient_id"], vec["key_version"])
        got = b"".join(open_document(io.BytesIO(bytes.fromhex(vec["blob"])), addr, keys.x25519))
        assert got.hex() == vec["plaintext"]
