"""Sealed documents: round trips, and every tampering the format must refuse."""
from __future__ import annotations

import io
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.envelope import HEADER_LEN, DocumentAddress, open_document, open_metadata, seal_document
from crypto.errors import OpenError
from crypto.keys import RecipientKeyPair

COBBLE_HEADER = 56
CHUNK_PT = 16 * 1024
CHUNK_CT = CHUNK_PT + 16
KEYS = RecipientKeyPair.generate()
OTHER = RecipientKeyPair.generate()


def addr(recipient: str | None = None) -> DocumentAddress:
    return DocumentAddress(uuid.uuid4().hex, recipient or uuid.uuid4().hex, 1)


def seal(plain: bytes, a: DocumentAddress, keys: RecipientKeyPair = KEYS, meta=None):
    reader = seal_document(io.BytesIO(plain), a, keys.public().x25519, meta or {"subject": "s"})
    blob = reader.read()
    return blob, reader.result()


def opened(blob: bytes, a: DocumentAddress, keys: RecipientKeyPair = KEYS) -> bytes:
    return b"".join(open_document(io.BytesIO(blob), a, keys.x25519))


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=3 * CHUNK_PT + 7))
def test_round_trip(plain: bytes) -> None:
    a = addr()
    blob, res = seal(plain, a)
    assert opened(blob, a) == plain
    assert res.plaintext_size == len(plain) and res.ciphertext_size == len(blob)


def test_empty_document_round_trips() -> None:
    a = addr()
    blob, _ = seal(b"", a)
    assert opened(blob, a) == b""


def test_metadata_round_trip_and_no_plaintext_in_blob() -> None:
    a = addr()
    canary = b"CANARY-PLAINTEXT-7781"
    blob, res = seal(canary * 100, a, meta={"subject": "SUBJECT-CANARY", "filename": "f.pdf"})
    meta = open_metadata(res.stanza, res.sealed_meta, a, KEYS.x25519)
    assert meta["subject"] == "SUBJECT-CANARY" and meta["filename"] == "f.pdf"
    for needle in (canary, b"SUBJECT-CANARY", b"f.pdf"):
        assert needle not in blob and needle not in res.sealed_meta


def test_every_flipped_byte_fails() -> None:
    a = addr()
    blob, _ = seal(b"x" * (CHUNK_PT + 100), a)
    step = max(1, len(blob) // 400)
    positions = sorted(set(range(0, HEADER_LEN + COBBLE_HEADER)) | set(range(0, len(blob), step))
                       | {len(blob) - 1})
    for pos in positions:
        bad = bytearray(blob)
        bad[pos] ^= 0x01
        with pytest.raises(OpenError):
            opened(bytes(bad), a)


def test_truncation_at_every_chunk_boundary_fails() -> None:
    a = addr()
    blob, _ = seal(b"y" * (3 * CHUNK_PT + 5), a)
    start = HEADER_LEN + COBBLE_HEADER
    cuts = [0, 10, HEADER_LEN, start] + [start + k * CHUNK_CT for k in range(1, 4)]
    cuts += [len(blob) - 1, len(blob) - 16]
    for cut in cuts:
        with pytest.raises(OpenError):
            opened(blob[:cut], a)


def test_dropped_final_chunk_fails_even_on_exact_boundary() -> None:
    a = addr()
    blob, _ = seal(b"z" * (2 * CHUNK_PT), a)
    start = HEADER_LEN + COBBLE_HEADER
    with pytest.raises(OpenError):
        opened(blob[: start + CHUNK_CT], a)


def test_reordered_chunks_fail() -> None:
    a = addr()
    blob, _ = seal(bytes(range(256)) * 300, a)
    start = HEADER_LEN + COBBLE_HEADER
    c1, c2 = blob[start : start + CHUNK_CT], blob[start + CHUNK_CT : start + 2 * CHUNK_CT]
    swapped = blob[:start] + c2 + c1 + blob[start + 2 * CHUNK_CT :]
    with pytest.raises(OpenError):
        opened(swapped, a)


def test_header_swapped_between_documents_fails() -> None:
    recipient = uuid.uuid4().hex
    a, b = addr(recipient), addr(recipient)
    blob_a, _ = seal(b"document A" * 50, a)
    blob_b, _ = seal(b"document B" * 50, b)
    with pytest.raises(OpenError):
        opened(blob_b[:HEADER_LEN] + blob_a[HEADER_LEN:], b)
    with pytest.raises(OpenError):
        opened(blob_a, b)


def test_ciphertext_for_another_recipient_fails() -> None:
    a = addr()
    blob, res = seal(b"secret", a)
    with pytest.raises(OpenError):
        opened(blob, a, OTHER)
    other_addr = DocumentAddress(a.document_id, uuid.uuid4().hex, 1)
    with pytest.raises(OpenError):
        opened(blob, other_addr, KEYS)
    with pytest.raises(OpenError):
        open_metadata(res.stanza, res.sealed_meta, a, OTHER.x25519)


def test_wrong_key_version_fails() -> None:
    a = addr()
    blob, _ = seal(b"secret", a)
    with pytest.raises(OpenError):
        opened(blob, DocumentAddress(a.document_id, a.recipient_id, 2))


def test_metadata_swapped_between_documents_fails() -> None:
    recipient = uuid.uuid4().hex
    a, b = addr(recipient), addr(recipient)
    _, ra = seal(b"a", a, meta={"subject": "A"})
    _, rb = seal(b"b", b, meta={"subject": "B"})
    with pytest.raises(OpenError):
        open_metadata(rb.stanza, ra.sealed_meta, b, KEYS.x25519)


def test_open_error_is_opaque() -> None:
    a = addr()
    blob, _ = seal(b"q", a)
    messages = set()
    for bad in (blob[:5], blob[:-1], b"\x00" * len(blob)):
        with pytest.raises(OpenError) as info:
            opened(bad, a)
        messages.add(str(info.value))
    assert messages == {"could not open"}


def test_commitment_matches_salted_hash() -> None:
    import base64
    import hashlib

    a = addr()
    blob, res = seal(b"commit me", a)
    salt = base64.b64decode(open_metadata(res.stanza, res.sealed_meta, a, KEYS.x25519)
                            ["commitment_salt"])
    assert res.plaintext_commitment == hashlib.sha256(salt + b"commit me").hexdigest()
    assert res.ciphertext_sha256 == hashlib.sha256(blob).hexdigest()


def test_every_single_byte_of_a_small_document_is_protected() -> None:
    a = addr()
    blob, _ = seal(b"small but precious", a)
    for pos in range(len(blob)):
        bad = bytearray(blob)
        bad[pos] ^= 0xFF
        with pytest.raises(OpenError):
            opened(bytes(bad), a)
    with pytest.raises(OpenError):
        opened(blob + b"\x00", a)
