"""Delegate stanzas: a document's data key wrapped for a delegate, kept beside the document.

Threat model: the header of a sealed document (with its one recipient stanza) is hashed into
the payload's context, so a second stanza cannot join the header without re-encrypting the
payload. A delegate stanza therefore lives outside the blob (docs/format.md §8). It is an HPKE
seal of the same 32-byte data key to the delegate's X25519 key, whose ``info`` binds format
version, document id, delegate id, grant id and the delegate's key version: a stanza moved to
another document, delegate or grant fails to open. Opening with a stanza reads the owner's
header from the blob and checks its fixed fields against what the reader expected, exactly as
the owner's own opening does; the payload and its commitment checks are unchanged, so a
delegate can never be handed a payload other than the owner's. Deleting the stanza (revocation)
ends the delegate's access to the key; the payload is never re-encrypted. Every failure to open
is the one opaque :class:`OpenError`.
"""
from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.cobblestone import Cobblestone256Decryptor, Cobblestone256Encryptor
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)

from crypto.envelope import (
    _SUITE,
    HEADER_LEN,
    PIECE,
    STANZA_LEN,
    VERSION,
    DocumentAddress,
    SealingReader,
    _data_key,
    _meta_cipher_args,
    _read_exact,
    _stanza_from_header,
    build_header,
)
from crypto.errors import KeyFormatError, OpenError
from crypto.ids import id_bytes

DELEGATE_INFO_PREFIX = b"postbox/v1 delegate key\x00"


@dataclass(frozen=True)
class DelegateAddress:
    """What a delegate stanza is bound to: the document, the delegate, the grant, the key."""

    document_id: str
    delegate_id: str
    grant_id: str
    key_version: int

    def hpke_info(self) -> bytes:
        if not 0 <= self.key_version < 2**32:
            raise KeyFormatError("key version out of range")
        return (DELEGATE_INFO_PREFIX + bytes([VERSION]) + id_bytes(self.document_id)
                + id_bytes(self.delegate_id) + id_bytes(self.grant_id)
                + struct.pack(">I", self.key_version))


def _wrap(data_key: bytes, delegate: DelegateAddress, public_key: bytes) -> bytes:
    try:
        recipient = X25519PublicKey.from_public_bytes(public_key)
    except ValueError:
        raise KeyFormatError("an X25519 public key is 32 bytes") from None
    return _SUITE.encrypt(data_key, recipient, info=delegate.hpke_info())


def _same_document(owner: DocumentAddress, delegate: DelegateAddress) -> None:
    if owner.document_id != delegate.document_id:
        raise KeyFormatError("the delegate stanza is for another document")


def seal_document_with_delegates(
    src: BinaryIO,
    address: DocumentAddress,
    public_key: bytes,
    metadata: Mapping[str, str],
    delegates: Sequence[tuple[DelegateAddress, bytes]],
) -> tuple[SealingReader, list[bytes]]:
    """Seal ``src`` for its recipient (the blob is exactly :func:`seal_document`'s) and wrap
    the same data key for each ``(delegate address, X25519 public key)``, in that order."""
    for delegate, _ in delegates:
        _same_document(address, delegate)
    data_key = Cobblestone256Encryptor.generate_key()
    stanzas = [_wrap(data_key, delegate, public) for delegate, public in delegates]
    return SealingReader(src, address, public_key, metadata, data_key=data_key), stanzas


def rewrap_for_delegate(
    owner_stanza: bytes,
    owner: DocumentAddress,
    owner_key: X25519PrivateKey,
    delegate: DelegateAddress,
    delegate_public: bytes,
) -> bytes:
    """A delegate stanza for an existing document, made with the owner's unlocked key.

    The data key exists only inside this call; raises :class:`OpenError` if the owner's stanza
    does not open.
    """
    _same_document(owner, delegate)
    return _wrap(_data_key(owner_stanza, owner, owner_key), delegate, delegate_public)


def _delegate_key(stanza: bytes, delegate: DelegateAddress, key: X25519PrivateKey) -> bytes:
    if len(stanza) != STANZA_LEN:
        raise OpenError()
    try:
        data_key = _SUITE.decrypt(stanza, key, info=delegate.hpke_info())
    except Exception:  # noqa: BLE001 - any HPKE failure is the same to the caller
        raise OpenError() from None
    if len(data_key) != 32:
        raise OpenError()
    return data_key


def open_delegated(
    src: BinaryIO,
    owner: DocumentAddress,
    stanza: bytes,
    delegate: DelegateAddress,
    delegate_key: X25519PrivateKey,
) -> Iterator[bytes]:
    """Yield the plaintext of the owner's sealed document, opened with a delegate stanza.

    Same contract as :func:`crypto.envelope.open_document`: :class:`OpenError` on any
    failure, possibly after earlier pieces (truncation shows at the end).
    """
    _same_document(owner, delegate)
    try:
        header = _read_exact(src, HEADER_LEN)
        _stanza_from_header(header, owner)  # the owner's fixed fields, as the reader expected
        dec = Cobblestone256Decryptor(_delegate_key(stanza, delegate, delegate_key),
                                      hashlib.sha256(header).digest())
        while piece := src.read(PIECE):
            out = dec.update(piece)
            if out:
                yield out
        tail = dec.finalize()
    except OpenError:
        raise
    except Exception:  # noqa: BLE001 - every failure is the one opaque OpenError
        raise OpenError() from None
    if tail:
        yield tail


def open_delegated_metadata(
    owner_stanza: bytes,
    sealed_meta: bytes,
    owner: DocumentAddress,
    stanza: bytes,
    delegate: DelegateAddress,
    delegate_key: X25519PrivateKey,
) -> dict[str, str]:
    """The sealed metadata (subject, file name, ...) of the owner's document, for a delegate."""
    _same_document(owner, delegate)
    try:
        header = build_header(owner, owner_stanza)
        meta_key, meta_ctx = _meta_cipher_args(_delegate_key(stanza, delegate, delegate_key),
                                               header)
        dec = Cobblestone256Decryptor(meta_key, meta_ctx)
        value = json.loads((dec.update(sealed_meta) + dec.finalize()).decode("utf-8"))
    except OpenError:
        raise
    except Exception:  # noqa: BLE001 - every failure is the one opaque OpenError
        raise OpenError() from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise OpenError()
    return value
