"""Key wrapping under PIN, recovery code and session keys; Argon2id with pepper and ad."""
from __future__ import annotations

import uuid

import pytest

from crypto.errors import OpenError
from crypto.kdf import Argon2Params, derive_kek, new_salt
from crypto.keys import RecipientKeyPair, unwrap_private_keys, wrap_private_keys

CHEAP = Argon2Params(memory_kib=64, iterations=1, lanes=1)
PEPPER = b"p" * 32


def kek(pin: str, salt: bytes, rid: str, pepper: bytes = PEPPER, purpose: str = "pin") -> bytes:
    return derive_kek(pin, salt=salt, pepper=pepper, subject_id=bytes.fromhex(rid),
                      purpose=purpose, params=CHEAP)


def test_wrap_round_trip() -> None:
    keys, rid, salt = RecipientKeyPair.generate(), uuid.uuid4().hex, new_salt()
    blob = wrap_private_keys(keys, kek("482913", salt, rid), purpose="pin", recipient_id=rid,
                             key_version=1)
    back = unwrap_private_keys(blob, kek("482913", salt, rid), purpose="pin", recipient_id=rid,
                               key_version=1)
    assert back.to_bytes() == keys.to_bytes()


@pytest.mark.parametrize("change", ["pin", "pepper", "recipient", "purpose", "version", "salt"])
def test_any_wrong_input_fails_to_unwrap(change: str) -> None:
    keys, rid, salt = RecipientKeyPair.generate(), uuid.uuid4().hex, new_salt()
    blob = wrap_private_keys(keys, kek("482913", salt, rid), purpose="pin", recipient_id=rid,
                             key_version=1)
    pin, pepper, other_rid, purpose, version, s = "482913", PEPPER, rid, "pin", 1, salt
    if change == "pin":
        pin = "482914"
    elif change == "pepper":
        pepper = b"q" * 32
    elif change == "recipient":
        other_rid = uuid.uuid4().hex
    elif change == "purpose":
        purpose = "recovery"
    elif change == "version":
        version = 2
    else:
        s = new_salt()
    with pytest.raises(OpenError):
        unwrap_private_keys(blob, kek(pin, s, other_rid, pepper), purpose=purpose,
                            recipient_id=other_rid, key_version=version)


def test_flipped_wrapped_byte_fails() -> None:
    keys, rid, salt = RecipientKeyPair.generate(), uuid.uuid4().hex, new_salt()
    k = kek("482913", salt, rid)
    blob = wrap_private_keys(keys, k, purpose="pin", recipient_id=rid, key_version=1)
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 0x80
        with pytest.raises(OpenError):
            unwrap_private_keys(bytes(bad), k, purpose="pin", recipient_id=rid, key_version=1)


def test_keypair_repr_hides_keys() -> None:
    assert "hidden" in repr(RecipientKeyPair.generate())


def test_box_keypair_round_trip_and_sealing() -> None:
    import io

    from crypto.envelope import DocumentAddress, open_document, seal_document
    from crypto.errors import OpenError as _OpenError
    from crypto.keys import BoxKeyPair

    org = BoxKeyPair.generate()
    again = BoxKeyPair.from_bytes(org.to_bytes())
    assert again.public_bytes() == org.public_bytes() and "hidden" in repr(org)
    addr = DocumentAddress(uuid.uuid4().hex, uuid.uuid4().hex, 1)
    sealed = seal_document(io.BytesIO(b"paid by card"), addr, org.public_bytes(), {}).read()
    assert b"".join(open_document(io.BytesIO(sealed), addr, again.x25519)) == b"paid by card"
    with pytest.raises(_OpenError):
        b"".join(open_document(io.BytesIO(sealed), addr, BoxKeyPair.generate().x25519))
