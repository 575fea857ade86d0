"""Signed notes, log checkpoints and witness cosignatures for the evidence log.

Owns the C2SP formats: signed-note (text, blank line, "— <name> <base64(key ID || sig)>" lines),
tlog-checkpoint (origin, tree size, root hash, optional extension lines) and tlog-cosignature
(cosignature/v1: a witness signs "cosignature/v1\\ntime <t>\\n" + the checkpoint). Keys travel as
strings in Go's golang.org/x/mod/sumdb/note encoding: verifier "<name>+<key ID hex>+<base64(type
|| public key)>", signer "PRIVATE+KEY+<name>+<key ID hex>+<base64(type || seed)>", type 0x01 for
Ed25519 note signatures and 0x04 for cosignatures (our extension: Go defines no 0x04 signer keys).

Threat model: the log's storage and the network are hostile. A note is trusted only through a
signature by a configured key; a flipped byte, a line that is not part of the grammar, a bad
signature by a known key or a duplicated one rejects the whole note, and unknown keys are
ignored, never trusted. A witness cosigns a checkpoint with its own key and time, so a log that
shows two histories needs its witnesses to sign both, which their consistency checks prevent.
Time is always a parameter; nothing here reads the clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from crypto.errors import CryptoError

MAX_NOTE_SIZE = 1 << 20
MAX_SIGNATURES = 100  # signed-note asks verifiers to accept at least 16
ED25519 = 0x01
COSIGNATURE_V1 = 0x04
_MAX_TIME = (1 << 63) - 1
_DASH = "\u2014 "
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_KEY_ID = re.compile(r"[0-9a-f]{8}")
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")


class NoteError(CryptoError, ValueError):
    """A note, checkpoint, cosignature or key string is malformed or fails verification."""


@dataclass(frozen=True)
class Cosignature:
    """A witness `name` vouched for the checkpoint at `timestamp` (unix seconds)."""

    name: str
    timestamp: int


class OpenedNote(NamedTuple):
    """A verified note: its text, who signed it, and which witnesses cosigned it when."""

    text: str
    signers: tuple[str, ...]
    cosignatures: tuple[Cosignature, ...]


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head as c2sp.org/tlog-checkpoint; invalid values cannot be constructed."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for line in (self.origin, *self.extensions):
            if not isinstance(line, str) or not line or "\n" in line or _CONTROL.search(line):
                raise NoteError("checkpoint origin and extension lines must be non-empty text")
        if not isinstance(self.size, int) or isinstance(self.size, bool):
            raise NoteError("checkpoint size must be an integer")
        if not 0 <= self.size <= _MAX_TIME:
            raise NoteError("checkpoint size is out of range")
        if not isinstance(self.root, bytes) or len(self.root) != 32:
            raise NoteError("checkpoint root must be 32 bytes")


@dataclass(frozen=True)
class _Key:
    name: str
    key_id: bytes
    kind: int
    public: Ed25519PublicKey
    private: Ed25519PrivateKey | None = None


def format_checkpoint(checkpoint: Checkpoint) -> str:
    """The note text (body) of a checkpoint."""
    root = base64.b64encode(checkpoint.root).decode()
    lines = [checkpoint.origin, str(checkpoint.size), root, *checkpoint.extensions]
    return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint body strictly: no leading zeros, canonical base64, 32-byte root."""
    if not text.endswith("\n"):
        raise NoteError("checkpoint does not end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint has fewer than three lines")
    origin, size, root, *extensions = lines
    if not _SIZE.fullmatch(size):
        raise NoteError("checkpoint size is not a canonical decimal")
    return Checkpoint(origin, int(size), _b64decode(root, "checkpoint root"), tuple(extensions))


def generate_signer(name: str, seed: bytes | None = None) -> tuple[str, str]:
    """A new Ed25519 note key: (signer key, verifier key). `seed` only for fixed test keys."""
    return _generate(name, ED25519, seed)


def generate_cosigner(name: str, seed: bytes | None = None) -> tuple[str, str]:
    """A new witness key for cosignature/v1: (signer key, verifier key)."""
    return _generate(name, COSIGNATURE_V1, seed)


def verifier_key(signer_key: str) -> str:
    """The public verifier key that matches a signer key."""
    key = _parse_signer(signer_key)
    return _format_key(key.name, key.key_id, key.kind, key.public.public_bytes_raw())


def sign_note(text: str, signers: Sequence[str]) -> bytes:
    """Sign `text` (which must end in a newline) with Ed25519 note signer keys."""
    _check_text(text)
    keys = [_parse_signer(s) for s in signers]
    if not keys:
        raise NoteError("no signer keys given")
    if len({(k.name, k.key_id) for k in keys}) != len(keys):
        raise NoteError("the same signer key was given twice")
    lines = []
    for key in keys:
        if key.kind != ED25519 or key.private is None:
            raise NoteError(f"key {key.name} is not an Ed25519 note key; witnesses use cosign")
        lines.append(_line(key, key.private.sign(text.encode())))
    return _bounded((text + "\n" + "".join(lines)).encode())


def cosign(checkpoint_body: str, witness_signer: str, now: int) -> str:
    """A witness's cosignature/v1 signature line (ending in a newline) for a checkpoint."""
    parse_checkpoint(checkpoint_body)  # witnesses vouch for checkpoints, nothing else
    key = _parse_signer(witness_signer)
    if key.kind != COSIGNATURE_V1 or key.private is None:
        raise NoteError(f"key {key.name} is not a cosignature/v1 key")
    _check_time(now)
    signature = key.private.sign(_cosigned_message(now, checkpoint_body))
    return _line(key, now.to_bytes(8, "big") + signature)


def verify_cosignature(checkpoint_body: str, signature_line: str, witness_verifier: str) -> int:
    """Check one witness cosignature line over a checkpoint body; return its timestamp."""
    key = _parse_verifier(witness_verifier)
    if key.kind != COSIGNATURE_V1:
        raise NoteError(f"key {key.name} is not a cosignature/v1 key")
    line = signature_line.removesuffix("\n")
    name, key_id, payload = _parse_line(line)
    if (name, key_id) != (key.name, key.key_id):
        raise NoteError(f"cosignature is not from key {_label(key.name, key.key_id)}")
    return _check_cosignature(key, payload, checkpoint_body)


def append_signatures(note: bytes, signature_lines: Sequence[str]) -> bytes:
    """Add signature lines (from `cosign`, say) to a signed note; they are checked on open."""
    for line in signature_lines:
        if not line.endswith("\n"):
            raise NoteError("a signature line must end in a newline")
        _parse_line(line[:-1])
    return _bounded(note + "".join(signature_lines).encode())


def open_note(note: bytes, verifiers: Sequence[str]) -> OpenedNote:
    """Parse `note` and verify every signature by a known key (note or witness verifier keys).

    Unknown keys are skipped; at least one known signature is required, and any bad or
    duplicated signature by a known key rejects the note.
    """
    if len(note) > MAX_NOTE_SIZE:
        raise NoteError("note is larger than 1 MiB")
    try:
        message = note.decode("utf-8", "strict")
    except UnicodeDecodeError as exc:
        raise NoteError("note is not valid UTF-8") from exc
    if _CONTROL.search(message):
        raise NoteError("note contains a control character")
    split = message.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, block = message[: split + 1], message[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("note signature block is empty or does not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    known = _verifier_table(verifiers)
    seen: set[tuple[str, bytes]] = set()
    signers: list[str] = []
    cosignatures: list[Cosignature] = []
    for line in lines:
        name, key_id, payload = _parse_line(line)
        key = known.get((name, key_id))
        if key is None:
            continue
        if (name, key_id) in seen:
            raise NoteError(f"duplicate signature for key {_label(name, key_id)}")
        seen.add((name, key_id))
        if key.kind == ED25519:
            _verify(key, payload, text.encode())
            signers.append(name)
        else:
            cosignatures.append(Cosignature(name, _check_cosignature(key, payload, text)))
    if not seen:
        raise NoteError("note has no signature by a known key")
    return OpenedNote(text, tuple(signers), tuple(cosignatures))


def open_checkpoint(
    note: bytes, log_verifier: str, witness_verifiers: Sequence[str] = ()
) -> tuple[Checkpoint, tuple[Cosignature, ...]]:
    """Open a checkpoint note that must be signed by the log key, whose name is its origin."""
    log = _parse_verifier(log_verifier)
    if log.kind != ED25519:
        raise NoteError(f"key {log.name} is not an Ed25519 note key")
    for witness in map(_parse_verifier, witness_verifiers):
        if witness.kind != COSIGNATURE_V1:  # else another key named like the log could stand in
            raise NoteError(f"witness key {witness.name} is not a cosignature/v1 key")
    opened = open_note(note, [log_verifier, *witness_verifiers])
    if log.name not in opened.signers:
        raise NoteError(f"checkpoint is not signed by the log key {log.name}")
    checkpoint = parse_checkpoint(opened.text)
    if checkpoint.origin != log.name:
        raise NoteError("checkpoint origin does not match the log key name")
    return checkpoint, opened.cosignatures


def _generate(name: str, kind: int, seed: bytes | None) -> tuple[str, str]:
    _check_name(name)
    seed = os.urandom(32) if seed is None else seed
    if len(seed) != 32:
        raise NoteError("an Ed25519 seed is 32 bytes")
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    key_id = _key_id(name, kind, public)
    signer = "PRIVATE+KEY+" + _format_key(name, key_id, kind, seed)
    return signer, _format_key(name, key_id, kind, public)


def _parse_signer(signer_key: str) -> _Key:
    # Never echo a signer key into an error: it is a secret.
    if not signer_key.startswith("PRIVATE+KEY+"):
        raise NoteError("malformed signer key")
    name, key_id, kind, seed = _split_key(signer_key[len("PRIVATE+KEY+") :], "signer")
    private = Ed25519PrivateKey.from_private_bytes(seed)
    if _key_id(name, kind, private.public_key().public_bytes_raw()) != key_id:
        raise NoteError("signer key ID does not match its key")
    return _Key(name, key_id, kind, private.public_key(), private)


def _parse_verifier(verifier_key: str) -> _Key:
    name, key_id, kind, public = _split_key(verifier_key, "verifier")
    if _key_id(name, kind, public) != key_id:
        raise NoteError(f"verifier key ID for {name} does not match its key")
    return _Key(name, key_id, kind, Ed25519PublicKey.from_public_bytes(public))


def _split_key(encoded: str, what: str) -> tuple[str, bytes, int, bytes]:
    name, _, rest = encoded.partition("+")
    key_id, _, key64 = rest.partition("+")
    if not _valid_name(name) or not _KEY_ID.fullmatch(key_id):
        raise NoteError(f"malformed {what} key")
    key = _b64decode(key64, f"{what} key")
    if len(key) != 33 or key[0] not in (ED25519, COSIGNATURE_V1):
        raise NoteError(f"{what} key is not an Ed25519 or cosignature/v1 key")
    return name, bytes.fromhex(key_id), key[0], key[1:]


def _verifier_table(verifiers: Sequence[str]) -> dict[tuple[str, bytes], _Key]:
    table: dict[tuple[str, bytes], _Key] = {}
    for encoded in dict.fromkeys(verifiers):
        key = _parse_verifier(encoded)
        if (key.name, key.key_id) in table:
            raise NoteError(f"ambiguous verifier keys for {_label(key.name, key.key_id)}")
        table[(key.name, key.key_id)] = key
    return table


def _parse_line(line: str) -> tuple[str, bytes, bytes]:
    if not line.startswith(_DASH):
        raise NoteError("note has a line that is not a signature after the blank line")
    name, _, sig64 = line[len(_DASH) :].partition(" ")
    if not _valid_name(name):
        raise NoteError("signature line has an invalid key name")
    raw = _b64decode(sig64, "signature")
    if len(raw) < 5:
        raise NoteError("signature is too short")
    return name, raw[:4], raw[4:]


def _check_cosignature(key: _Key, payload: bytes, body: str) -> int:
    if len(payload) != 8 + 64:
        raise NoteError(f"cosignature by {_label(key.name, key.key_id)} has the wrong length")
    timestamp = int.from_bytes(payload[:8], "big")
    if timestamp > _MAX_TIME:
        raise NoteError(f"cosignature by {_label(key.name, key.key_id)} has an invalid time")
    _verify(key, payload[8:], _cosigned_message(timestamp, body))
    return timestamp


def _verify(key: _Key, signature: bytes, message: bytes) -> None:
    try:
        key.public.verify(signature, message)
    except InvalidSignature as exc:
        raise NoteError(f"invalid signature for key {_label(key.name, key.key_id)}") from exc


def _cosigned_message(timestamp: int, body: str) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def _line(key: _Key, signature: bytes) -> str:
    return f"{_DASH}{key.name} {base64.b64encode(key.key_id + signature).decode()}\n"


def _format_key(name: str, key_id: bytes, kind: int, material: bytes) -> str:
    return f"{name}+{key_id.hex()}+{base64.b64encode(bytes([kind]) + material).decode()}"


def _key_id(name: str, kind: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public).digest()[:4]


def _label(name: str, key_id: bytes) -> str:
    return f"{name}+{key_id.hex()}"


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() or c < " " for c in name)


def _check_name(name: str) -> None:
    if not _valid_name(name):
        raise NoteError("key names must be non-empty, without spaces or '+'")


def _check_text(text: str) -> None:
    if not text.endswith("\n") or _CONTROL.search(text):
        raise NoteError("note text must end in a newline and contain no control characters")


def _check_time(now: int) -> None:
    if not isinstance(now, int) or isinstance(now, bool) or not 0 <= now <= _MAX_TIME:
        raise NoteError("cosignature time must be a unix time in seconds")


def _bounded(message: bytes) -> bytes:
    if len(message) > MAX_NOTE_SIZE:
        raise NoteError("note is larger than 1 MiB")
    return message


def _b64decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} is not valid base64") from exc
    if base64.b64encode(raw).decode() != text:  # one spelling per value: no malleable lines
        raise NoteError(f"{what} is not canonical base64")
    return raw
