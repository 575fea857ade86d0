"""The witness: watches a Postbox evidence log, cosigns checkpoints, and refuses two histories.

A compliance officer runs ``postbox witness --server URL --key witness.key --state DIR`` with
their own key. Each round it fetches the latest checkpoint, checks the log's signature with
the log key it pinned on first contact, checks the consistency proof from the last checkpoint
it accepted (kept in DIR), keeps the new one, cosigns it (C2SP tlog-cosignature v1) and posts
the cosignature back. A log that shows a smaller tree than before (a rewind) or a tree that
does not extend the one seen before (a fork) is refused with :class:`LogMisbehaved`; both
signed checkpoints are saved in DIR/forks as evidence, and the state is left untouched.

Threat model: the server and the network are hostile; the state folder and the witness key are
the witness's own. Nothing the server says is kept before it verified.
"""
from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

import httpx

from crypto.merkle import ProofError, verify_consistency
from crypto.note import (
    Checkpoint,
    NoteError,
    cosign,
    generate_cosigner,
    open_checkpoint,
    open_note,
    verifier_key,
)
from postbox.clock import Clock
from postbox.errors import ConfigError, PostboxError
from postbox.instance import write_secret_file

API = "/api/v1/log"


class WitnessError(PostboxError):
    """The round could not be completed (server unreachable, bad answer); nothing was kept."""

    kind = "witness"


class LogMisbehaved(WitnessError):
    """The log rewound or forked: it showed a history that contradicts one it signed before."""

    kind = "log-misbehaved"


@dataclass(frozen=True)
class Round:
    checkpoint: Checkpoint
    previous_size: int | None
    posted: bool

    def describe(self) -> str:
        since = ("first checkpoint seen" if self.previous_size is None
                 else f"consistent with size {self.previous_size}")
        action = "cosigned and posted" if self.posted else "already cosigned"
        return f"{action}: {self.checkpoint.origin} size {self.checkpoint.size} ({since})"


def create_key(path: Path, name: str) -> str:
    """Write a new witness signer key to ``path`` (0600, never overwritten); its verifier key."""
    signer, verifier = generate_cosigner(name)
    if not write_secret_file(path, signer.encode() + b"\n"):
        raise ConfigError(f"{path} already exists; it is never overwritten")
    return verifier


def load_key(path: Path) -> str:
    try:
        signer = path.read_text().strip()
        verifier_key(signer)
    except OSError:
        raise ConfigError(f"cannot read the witness key {path}; create one with "
                          "`postbox witness keygen`") from None
    except NoteError:
        raise ConfigError(f"{path} is not a witness key") from None
    return signer


class Witness:
    def __init__(self, client: httpx.Client, signer: str, state: Path, clock: Clock,
                 log_key: str | None = None) -> None:
        self.client, self.signer, self.state, self.clock = client, signer, state, clock
        self.verifier = verifier_key(signer)
        self.log_key = log_key
        state.mkdir(parents=True, exist_ok=True, mode=0o700)

    # -- state ----------------------------------------------------------------------------
    def _pinned(self) -> str:
        path = self.state / "log.pub"
        if path.exists():
            pinned = path.read_text().strip()
            if self.log_key is not None and self.log_key != pinned:
                raise WitnessError(f"--log-key differs from the key pinned in {path}")
            return pinned
        key = self.log_key or self._fetch_log_key()
        _atomic_write(path, key.encode() + b"\n")
        return key

    def _fetch_log_key(self) -> str:
        doc = self._get_json(f"{API}/trust")
        keys = doc.get("log_keys") if isinstance(doc, dict) else None
        if not keys or not isinstance(keys[0], dict) or not isinstance(keys[0].get("verifier"),
                                                                       str):
            raise WitnessError("the server's trust file names no log key")
        return str(keys[0]["verifier"])

    def _previous(self, log_key: str) -> tuple[bytes, Checkpoint] | None:
        path = self.state / "checkpoint"
        if not path.exists():
            return None
        note = path.read_bytes()
        try:
            return note, open_checkpoint(note, log_key)[0]
        except NoteError as exc:
            raise WitnessError(f"the saved checkpoint in {path} does not verify: {exc}") from None

    # -- HTTP -----------------------------------------------------------------------------
    def _get(self, url: str, **params: int) -> httpx.Response:
        try:
            response = self.client.get(url, params=params or None)
        except httpx.HTTPError as exc:
            raise WitnessError(f"cannot reach the log: {exc}") from None
        if response.status_code != 200:
            raise WitnessError(f"GET {url}: HTTP {response.status_code}: {response.text[:200]}")
        return response

    def _get_json(self, url: str, **params: int) -> object:
        try:
            return self._get(url, **params).json()
        except ValueError:
            raise WitnessError(f"GET {url}: not JSON") from None

    # -- one round ------------------------------------------------------------------------
    def run_once(self) -> Round:
        log_key = self._pinned()
        note = self._get(f"{API}/checkpoint").content
        try:
            new, _ = open_checkpoint(note, log_key)
        except NoteError as exc:
            raise WitnessError(f"the checkpoint is not signed by the pinned log key: {exc}") \
                from None
        previous = self._previous(log_key)
        if previous is not None:
            self._check_consistent(previous[0], previous[1], note, new)
        _atomic_write(self.state / "checkpoint", note)
        body = note.decode()[: note.decode().index("\n\n") + 1]
        if self._already_cosigned(note, log_key):
            return Round(new, previous[1].size if previous else None, False)
        line = cosign(body, self.signer, int(self.clock.now().timestamp()))
        try:
            response = self.client.post(f"{API}/cosignature", content=(body + "\n" + line)
                                        .encode(), headers={"Content-Type": "text/plain"})
        except httpx.HTTPError as exc:
            raise WitnessError(f"cannot post the cosignature: {exc}") from None
        if response.status_code != 200:
            raise WitnessError(f"the log refused the cosignature: HTTP {response.status_code}: "
                               f"{response.text[:200]}")
        return Round(new, previous[1].size if previous else None, True)

    def _already_cosigned(self, note: bytes, log_key: str) -> bool:
        try:
            opened = open_note(note, [log_key, self.verifier])
        except NoteError:
            return False
        return any(c.name == self.verifier.split("+", 1)[0] for c in opened.cosignatures)

    def _check_consistent(self, old_note: bytes, old: Checkpoint, note: bytes,
                          new: Checkpoint) -> None:
        if new.size < old.size:
            self._refuse("rewind", f"the log now shows tree size {new.size}, smaller than "
                                   f"the size {old.size} it signed before", old_note, note)
        if new.size == old.size:
            if new.root != old.root:
                self._refuse("fork", f"two different roots for tree size {new.size}",
                             old_note, note)
            return
        doc = self._get_json(f"{API}/proof/consistency", first=old.size, second=new.size)
        try:
            hashes = doc["proof"]  # type: ignore[index]
            proof = [base64.b64decode(h, validate=True) for h in hashes]
            verify_consistency(old.size, new.size, old.root, new.root, proof)
        except (KeyError, TypeError, ValueError, ProofError) as exc:
            self._refuse("fork", f"tree size {new.size} does not extend size {old.size} "
                                 f"({exc})", old_note, note, json.dumps(doc).encode())

    def _refuse(self, kind: str, why: str, old_note: bytes, note: bytes,
                proof: bytes = b"") -> None:
        forks = self.state / "forks"
        forks.mkdir(exist_ok=True, mode=0o700)
        stamp = int(self.clock.now().timestamp())
        path = forks / f"{stamp}-{kind}.txt"
        _atomic_write(path, b"# previously accepted checkpoint\n" + old_note +
                      b"\n# checkpoint now presented\n" + note +
                      (b"\n# consistency proof offered\n" + proof + b"\n" if proof else b""))
        raise LogMisbehaved(f"LOG {kind.upper()} REFUSED: {why}. Both signed checkpoints are "
                            f"saved in {path}; nothing was cosigned.")


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
