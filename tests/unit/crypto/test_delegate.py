"""Delegate stanzas: round trips, re-wrapping, and every swap or tampering that must fail."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import uuid
from pathlib import Path

import pytest
from cryptography.cobblestone import Cobblestone256Decryptor
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.delegate import (
    DelegateAddress,
    open_delegated,
    open_delegated_metadata,
    rewrap_for_delegate,
    seal_document_with_delegates,
)
from crypto.envelope import HEADER_LEN, DocumentAddress, open_document, open_metadata
from crypto.errors import KeyFormatError, OpenError
from crypto.keys import RecipientKeyPair

VECTOR = Path(__file__).resolve().parents[2] / "vectors" / "delegate" / "delegate-1.json"
OWNER = RecipientKeyPair.generate()
DELEGATE = RecipientKeyPair.generate()
STRANGER = RecipientKeyPair.generate()


def _id() -> str:
    return uuid.uuid4().hex


def sealed(plain: bytes, n_delegates: int = 1):
    owner = DocumentAddress(_id(), _id(), 1)
    delegates = [DelegateAddress(owner.document_id, _id(), _id(), 1) for _ in range(n_delegates)]
    reader, stanzas = seal_document_with_delegates(
        io.BytesIO(plain), owner, OWNER.public().x25519, {"subject": "Tax 2026"},
        [(d, DELEGATE.public().x25519) for d in delegates])
    blob = reader.read()
    return owner, delegates, stanzas, blob, reader.result()


def delegated(blob: bytes, owner, stanza, d, keys=DELEGATE) -> bytes:
    return b"".join(open_delegated(io.BytesIO(blob), owner, stanza, d, keys.x25519))


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=40_000))
def test_owner_and_delegate_open_the_same_blob(plain: bytes) -> None:
    owner, (d,), (stanza,), blob, res = sealed(plain)
    assert b"".join(open_document(io.BytesIO(blob), owner, OWNER.x25519)) == plain
    assert delegated(blob, owner, stanza, d) == plain
    meta = open_delegated_metadata(res.stanza, res.sealed_meta, owner, stanza, d, DELEGATE.x25519)
    assert meta["subject"] == "Tax 2026"
    assert meta == open_metadata(res.stanza, res.sealed_meta, owner, OWNER.x25519)


def test_empty_document_and_several_delegates() -> None:
    owner, ds, stanzas, blob, _ = sealed(b"", n_delegates=3)
    assert len(set(stanzas)) == 3
    for d, stanza in zip(ds, stanzas):
        assert delegated(blob, owner, stanza, d) == b""


def test_rewrap_with_the_owner_key_opens_like_a_sealed_stanza() -> None:
    owner, _, _, blob, res = sealed(b"existing letter" * 3000, n_delegates=0)
    d = DelegateAddress(owner.document_id, _id(), _id(), 2)
    stanza = rewrap_for_delegate(res.stanza, owner, OWNER.x25519, d, DELEGATE.public().x25519)
    assert delegated(blob, owner, stanza, d) == b"existing letter" * 3000
    with pytest.raises(OpenError):  # only the owner's key unwraps the owner's stanza
        rewrap_for_delegate(res.stanza, owner, STRANGER.x25519, d, DELEGATE.public().x25519)


@pytest.mark.parametrize("change", ["document", "delegate", "grant", "key_version"])
def test_a_stanza_is_bound_to_document_delegate_grant_and_key(change: str) -> None:
    owner, (d,), (stanza,), blob, _ = sealed(b"bound")
    other = {"document": None, "delegate": DelegateAddress(d.document_id, _id(), d.grant_id, 1),
             "grant": DelegateAddress(d.document_id, d.delegate_id, _id(), 1),
             "key_version": DelegateAddress(d.document_id, d.delegate_id, d.grant_id, 2)}[change]
    if other is None:  # the same stanza offered for another document of the same owner
        owner2, (_d2,), _, blob2, _ = sealed(b"another")
        moved = DelegateAddress(owner2.document_id, d.delegate_id, d.grant_id, 1)
        with pytest.raises(OpenError):
            delegated(blob2, owner2, stanza, moved)
        return
    with pytest.raises(OpenError):
        delegated(blob, owner, stanza, other)


def test_wrong_key_flipped_bytes_and_truncation_fail() -> None:
    plain = b"x" * (3 * 16384 + 5)
    owner, (d,), (stanza,), blob, _ = sealed(plain)
    with pytest.raises(OpenError):
        delegated(blob, owner, stanza, d, keys=STRANGER)
    for i in (0, 31, 32, 79):
        bad = bytearray(stanza)
        bad[i] ^= 1
        with pytest.raises(OpenError):
            delegated(blob, owner, bytes(bad), d)
    for i in (0, 6, 42, HEADER_LEN - 1, HEADER_LEN + 60, len(blob) - 1):
        bad = bytearray(blob)
        bad[i] ^= 0x80
        with pytest.raises(OpenError):
            delegated(bytes(bad), owner, stanza, d)
    for cut in (HEADER_LEN - 1, HEADER_LEN + 56 + 16384 + 16, len(blob) - 1):
        with pytest.raises(OpenError):
            delegated(blob[:cut], owner, stanza, d)
    with pytest.raises(OpenError):  # a short stanza
        delegated(blob, owner, stanza[:-1], d)


def test_the_blob_must_be_the_owner_document_the_reader_expected() -> None:
    owner, (d,), (stanza,), blob, _ = sealed(b"mine")
    wrong_owner = DocumentAddress(owner.document_id, _id(), 1)
    with pytest.raises(OpenError):
        delegated(blob, wrong_owner, stanza, d)
    with pytest.raises(KeyFormatError):
        delegated(blob, DocumentAddress(_id(), owner.recipient_id, 1), stanza, d)


def test_known_answer_vector_opens_with_the_primitives_alone() -> None:
    """docs/format.md §8 followed step by step, without crypto/."""
    v = json.loads(VECTOR.read_text())
    unb = base64.b64decode
    blob, stanza = unb(v["blob"]), unb(v["delegate_stanza"])
    info = (b"postbox/v1 delegate key\x00" + b"\x01" + bytes.fromhex(v["document_id"])
            + bytes.fromhex(v["delegate_id"]) + bytes.fromhex(v["grant_id"])
            + v["delegate_key_version"].to_bytes(4, "big"))
    assert info.hex() == v["info_hex"]
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    key = X25519PrivateKey.from_private_bytes(unb(v["delegate_x25519_private"]))
    data_key = suite.decrypt(stanza, key, info=info)
    header = blob[:HEADER_LEN]
    dec = Cobblestone256Decryptor(data_key, hashlib.sha256(header).digest())
    plain = dec.update(blob[HEADER_LEN:]) + dec.finalize()
    assert plain == v["plaintext"].encode()
    # ... and the recipe agrees
    owner = DocumentAddress(v["document_id"], v["owner_id"], v["owner_key_version"])
    d = DelegateAddress(v["document_id"], v["delegate_id"], v["grant_id"],
                        v["delegate_key_version"])
    assert b"".join(open_delegated(io.BytesIO(blob), owner, stanza, d, key)) == plain
