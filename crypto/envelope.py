"""The sealed-document format (docs/format.md): one recipient, streamed, bounded memory.

Threat model: whoever holds the bucket (and the database) but not the recipient's private key
learns nothing of the content, subject or file name, and cannot alter, truncate, reorder or swap
a sealed document (between documents or recipients) without opening failing. Every failure to
open raises the same :class:`OpenError`; Cobblestone checks each chunk's tag before it releases
plaintext, and truncation surfaces at the end, so a consumer must treat an error at the end of
the stream as "nothing was delivered".

Layout: header (122 bytes) || Cobblestone-256 ciphertext of the plaintext.
Header: "PBXD" | version u8 | suite u8 | document id (16) | recipient id (16) | key version u32 BE
        | HPKE stanza (80 = enc 32 || sealed data key 48).
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Iterator, Mapping

from cryptography.cobblestone import Cobblestone256Decryptor, Cobblestone256Encryptor
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.errors import KeyFormatError, OpenError
from crypto.ids import id_bytes

MAGIC = b"PBXD"
VERSION = 1
SUITE_ID = 1  # HPKE(DHKEM-X25519, HKDF-SHA256, AES-256-GCM) + Cobblestone-256
STANZA_LEN = 80
HEADER_LEN = 4 + 1 + 1 + 16 + 16 + 4 + STANZA_LEN
INFO_PREFIX = b"postbox/v1 document key\x00"
META_KEY_INFO = b"postbox/v1 metadata key"
META_CONTEXT_PREFIX = b"postbox/v1 metadata\x00"
PIECE = 64 * 1024
SEAL_PIECE = 256 * 1024
SALT_BYTES = 32
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


@dataclass(frozen=True)
class DocumentAddress:
    """What a sealed document is bound to: its id, its recipient and the recipient key version."""

    document_id: str
    recipient_id: str
    key_version: int

    def fixed_fields(self) -> bytes:
        if not 0 <= self.key_version < 2**32:
            raise KeyFormatError("key version out of range")
        return (
            id_bytes(self.document_id)
            + id_bytes(self.recipient_id)
            + struct.pack(">I", self.key_version)
        )

    def hpke_info(self) -> bytes:
        return INFO_PREFIX + bytes([VERSION]) + self.fixed_fields()


@dataclass(frozen=True)
class SealedDocument:
    """What sealing produced, known once the stream was read to its end."""

    header: bytes
    stanza: bytes
    sealed_meta: bytes
    ciphertext_sha256: str
    ciphertext_size: int
    plaintext_size: int
    plaintext_commitment: str


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _hash_pool() -> ThreadPoolExecutor:
    """Threads for the plaintext commitment hash, which overlaps encryption (hashlib drops
    the GIL on large buffers). Created on first use, never at import."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2,
                                       thread_name_prefix="postbox-hash")
        return _pool


def build_header(address: DocumentAddress, stanza: bytes) -> bytes:
    if len(stanza) != STANZA_LEN:
        raise KeyFormatError("a stanza is 80 bytes")
    return MAGIC + bytes([VERSION, SUITE_ID]) + address.fixed_fields() + stanza


def _stanza_from_header(header: bytes, address: DocumentAddress) -> bytes:
    expected = build_header(address, bytes(STANZA_LEN))
    if len(header) != HEADER_LEN or header[:-STANZA_LEN] != expected[:-STANZA_LEN]:
        raise OpenError()
    return header[-STANZA_LEN:]


def _meta_cipher_args(data_key: bytes, header: bytes) -> tuple[bytes, bytes]:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=META_KEY_INFO).derive(data_key)
    return key, META_CONTEXT_PREFIX + hashlib.sha256(header).digest()


def commit_plaintext(salt: bytes, chunks: Iterable[bytes]) -> str:
    """The salted content commitment SHA-256(salt || plaintext), hex."""
    h = hashlib.sha256(salt)
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


class SealingReader(io.RawIOBase):
    """Reads ciphertext (header, then payload) while pulling plaintext from ``src``.

    Hand it to a blob store's ``put``; call :meth:`result` after the store read it to the end.
    """

    def __init__(
        self,
        src: BinaryIO,
        address: DocumentAddress,
        public_key: bytes,
        metadata: Mapping[str, str],
        *,
        data_key: bytes | None = None,
    ) -> None:
        super().__init__()
        # A caller that also wraps the key for delegates (crypto/delegate.py) draws it itself.
        if data_key is None:
            data_key = Cobblestone256Encryptor.generate_key()
        elif len(data_key) != 32:
            raise KeyFormatError("a data key is 32 bytes")
        recipient = X25519PublicKey.from_public_bytes(public_key)
        stanza = _SUITE.encrypt(data_key, recipient, info=address.hpke_info())
        self._header = build_header(address, stanza)
        self._stanza = stanza
        self._src = src
        self._enc = Cobblestone256Encryptor(data_key, hashlib.sha256(self._header).digest())
        salt = os.urandom(SALT_BYTES)
        self._commitment = hashlib.sha256(salt)
        meta = dict(metadata)
        meta["commitment_salt"] = base64.b64encode(salt).decode()
        meta_key, meta_ctx = _meta_cipher_args(data_key, self._header)
        enc = Cobblestone256Encryptor(meta_key, meta_ctx)
        body = json.dumps(meta, sort_keys=True, ensure_ascii=False).encode("utf-8")
        self._sealed_meta = enc.update(body) + enc.finalize()
        self._pending = memoryview(self._header)
        self._pos = 0
        self._ct_hash = hashlib.sha256(self._header)
        self._ct_size = len(self._header)
        self._pt_size = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def _refill(self) -> None:
        """Encrypt the next piece; the plaintext commitment hash runs on a second thread."""
        while self._pos >= len(self._pending) and not self._done:
            piece = self._src.read(SEAL_PIECE)
            if piece:
                self._pt_size += len(piece)
                pending_hash = _hash_pool().submit(self._commitment.update, piece)
                out = self._enc.update(piece)
                self._ct_hash.update(out)
                pending_hash.result()
            else:
                out = self._enc.finalize()
                self._ct_hash.update(out)
                self._done = True
            self._ct_size += len(out)
            self._pending, self._pos = memoryview(out), 0

    def read(self, size: int = -1) -> bytes:
        """At most ``size`` bytes of sealed output (one copy; ``-1`` reads to the end)."""
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(SEAL_PIECE), b""))
        self._refill()
        chunk = self._pending[self._pos : self._pos + size]
        self._pos += len(chunk)
        return chunk.tobytes()

    def readinto(self, buffer: "bytearray | memoryview") -> int:  # type: ignore[override]
        self._refill()
        n = min(len(buffer), len(self._pending) - self._pos)
        buffer[:n] = self._pending[self._pos : self._pos + n]
        self._pos += n
        return n

    def result(self) -> SealedDocument:
        if not self._done or self._pos < len(self._pending):
            raise RuntimeError("the sealed stream was not read to its end")
        return SealedDocument(
            header=self._header,
            stanza=self._stanza,
            sealed_meta=self._sealed_meta,
            ciphertext_sha256=self._ct_hash.hexdigest(),
            ciphertext_size=self._ct_size,
            plaintext_size=self._pt_size,
            plaintext_commitment=self._commitment.hexdigest(),
        )


def seal_document(
    src: BinaryIO, address: DocumentAddress, public_key: bytes, metadata: Mapping[str, str]
) -> SealingReader:
    """Seal ``src`` for one recipient; returns a readable stream of the sealed document."""
    return SealingReader(src, address, public_key, metadata)


def _data_key(stanza: bytes, address: DocumentAddress, private_key: X25519PrivateKey) -> bytes:
    try:
        key = _SUITE.decrypt(stanza, private_key, info=address.hpke_info())
    except Exception:  # any HPKE failure is the same to the caller
        raise OpenError() from None
    if len(key) != 32:
        raise OpenError()
    return key


def _read_exact(src: BinaryIO, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        piece = src.read(n - len(buf))
        if not piece:
            raise OpenError()
        buf += piece
    return bytes(buf)


def open_document(
    src: BinaryIO, address: DocumentAddress, private_key: X25519PrivateKey
) -> Iterator[bytes]:
    """Yield the plaintext of a sealed document in bounded pieces.

    Raises :class:`OpenError` on any failure, possibly after earlier pieces were yielded (a
    truncated stream is detected at its end): the consumer must then discard what it got.
    """
    try:
        header = _read_exact(src, HEADER_LEN)
        stanza = _stanza_from_header(header, address)
        dec = Cobblestone256Decryptor(_data_key(stanza, address, private_key),
                                      hashlib.sha256(header).digest())
        while piece := src.read(PIECE):
            out = dec.update(piece)
            if out:
                yield out
        tail = dec.finalize()
    except OpenError:
        raise
    except Exception:
        raise OpenError() from None
    if tail:
        yield tail


def open_metadata(
    stanza: bytes, sealed_meta: bytes, address: DocumentAddress, private_key: X25519PrivateKey
) -> dict[str, str]:
    """Decrypt the sealed metadata (subject, file name, commitment salt, ...) of a document."""
    try:
        header = build_header(address, stanza)
        meta_key, meta_ctx = _meta_cipher_args(_data_key(stanza, address, private_key), header)
        dec = Cobblestone256Decryptor(meta_key, meta_ctx)
        body = dec.update(sealed_meta) + dec.finalize()
        value = json.loads(body.decode("utf-8"))
    except OpenError:
        raise
    except Exception:
        raise OpenError() from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise OpenError()
    return value
