"""A thief with the database and the bucket: without the pepper, or without the PIN, nothing opens."""
from __future__ import annotations

import io
import secrets

import pytest
from sqlalchemy import select

from crypto.envelope import DocumentAddress, open_document, open_metadata
from crypto.errors import OpenError
from crypto.kdf import derive_kek
from crypto.kdf import Argon2Params
from crypto.keys import RecipientKeyPair, unwrap_private_keys
from crypto.secretbox import open_secret
from postbox import auth, delivery
from postbox.models import Document, Recipient, VaultSession, WrappedKey

from .conftest import PIN

CANARY = "CANARY-SUBJECT-5521"
CHEAP = Argon2Params(memory_kib=64, iterations=1, lanes=1)  # as tests/fixtures/postbox.py


def _loot(pb, org, alice, make_pdf):
    pdf = make_pdf("CANARY-PLAINTEXT-9981")
    doc_id = delivery.deliver(pb, org, alice.external_id, io.BytesIO(pdf), CANARY,
                              "CANARY-NAME-3310.pdf").document_id
    auth.authenticate(pb, alice.email, PIN, alice.otp())  # leaves a vault session row behind
    with pb.uow() as uow:
        s = uow.session
        doc = s.get(Document, doc_id)
        wraps = {w.purpose: w for w in s.scalars(select(WrappedKey).where(
            WrappedKey.recipient_id == alice.recipient_id))}
        rec = s.get(Recipient, alice.recipient_id)
        sessions = list(s.scalars(select(VaultSession)))
        s.expunge_all()
    with pb.store.open(doc.blob_key) as fh:
        blob = fh.read()
    return pdf, doc, wraps, rec, sessions, blob


def _try_open(doc, blob, wrapped, pin: str, pepper: bytes) -> bytes:
    kek = derive_kek(pin, salt=wrapped.salt, pepper=pepper,
                     subject_id=bytes.fromhex(doc.recipient_id), purpose="pin",
                     params=CHEAP)
    keys = unwrap_private_keys(wrapped.blob, kek, purpose="pin", recipient_id=doc.recipient_id,
                               key_version=doc.key_version)
    address = DocumentAddress(doc.id, doc.recipient_id, doc.key_version)
    return b"".join(open_document(io.BytesIO(blob), address, keys.x25519))


def test_database_and_bucket_without_pepper_open_nothing(pb, org, alice, make_pdf) -> None:
    pdf, doc, wraps, rec, sessions, blob = _loot(pb, org, alice, make_pdf)
    pepper = bytes.fromhex(pb.settings.master_key_hex)
    assert _try_open(doc, blob, wraps["pin"], PIN, pepper) == pdf  # the control: the real path
    for _ in range(3):  # even knowing the PIN, a guessed pepper opens nothing
        with pytest.raises(OpenError):
            _try_open(doc, blob, wraps["pin"], PIN, secrets.token_bytes(32))
    with pytest.raises(OpenError):  # nor is the TOTP seed readable
        open_secret(secrets.token_bytes(32), "totp", rec.id, rec.totp_secret_sealed)


def test_database_and_pepper_without_pin_open_nothing(pb, org, alice, make_pdf) -> None:
    _, doc, wraps, _, sessions, blob = _loot(pb, org, alice, make_pdf)
    pepper = bytes.fromhex(pb.settings.master_key_hex)
    for guess in ["000000", "123456", "482916", "482918", "111111"]:
        with pytest.raises(OpenError):
            _try_open(doc, blob, wraps["pin"], guess, pepper)
    for row in sessions:  # the server's vault-session blobs need the client's session key
        with pytest.raises(OpenError):
            unwrap_private_keys(row.sealed_keys, secrets.token_bytes(32), purpose="session",
                                recipient_id=row.recipient_id, key_version=1)


def test_nothing_readable_at_rest(pb, org, alice, make_pdf) -> None:
    pdf, doc, _, _, _, blob = _loot(pb, org, alice, make_pdf)
    assert b"CANARY-PLAINTEXT-9981" in pdf  # control: the canary is findable in clear
    for needle in (b"CANARY-PLAINTEXT-9981", CANARY.encode(), b"CANARY-NAME-3310"):
        assert needle not in blob and needle not in doc.sealed_meta
    if pb.settings.database_url.startswith("sqlite"):
        pb.engine.dispose()
        db_file = pb.settings.database_url.removeprefix("sqlite:///")
        raw = open(db_file, "rb").read()
        for wal in (db_file + "-wal",):
            try:
                raw += open(wal, "rb").read()
            except FileNotFoundError:
                pass
        for needle in (CANARY.encode(), b"CANARY-NAME-3310", b"CANARY-PLAINTEXT-9981",
                       alice.totp_secret.encode(), alice.recovery_code.encode()):
            assert needle not in raw
    with pytest.raises(OpenError):  # metadata needs the recipient's key, not just any key
        open_metadata(doc.sealed_key, doc.sealed_meta,
                      DocumentAddress(doc.id, doc.recipient_id, doc.key_version),
                      RecipientKeyPair.generate().x25519)
