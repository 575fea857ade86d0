"""The instance folder and its key files (mode 0600), created on ``postbox init``."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from crypto.note import generate_signer
from crypto.signing import generate_signing_seed
from postbox.config import Settings
from postbox.db import make_engine, migrate
from postbox.errors import ConfigError
from postbox.keyring import EvidenceKey
from postbox.models import SigningKey

MASTER_KEY_BYTES = 32


@dataclass(frozen=True)
class InitReport:
    home: Path
    created_master_key: bool
    created_evidence_key: bool
    created_log_key: bool = False


def write_secret_file(path: Path, data: bytes) -> bool:
    """Create ``path`` with mode 0600 holding ``data``; never overwrite. True if created."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return True


def evidence_key_file(settings: Settings) -> Path:
    return settings.key_dir / "evidence.key"


def log_key_file(settings: Settings) -> Path:
    return settings.key_dir / "log.key"


def log_origin(settings: Settings) -> str:
    """The evidence log's name (C2SP origin): this service's host, port and a fixed path."""
    url = urlsplit(settings.public_url)
    host = (url.hostname or "localhost") + (f":{url.port}" if url.port else "")
    return f"{host}/postbox-evidence"


def create_key_files(settings: Settings) -> InitReport:
    """Create the instance folder, the master key (PIN pepper), the evidence signing key and
    the log's checkpoint key (a C2SP note signer named by the log's origin)."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    created_master = False
    if settings.master_key_hex is None:
        key = secrets.token_bytes(MASTER_KEY_BYTES).hex().encode() + b"\n"
        created_master = write_secret_file(settings.resolved_master_key_file, key)
    created_evidence = write_secret_file(
        evidence_key_file(settings), generate_signing_seed().hex().encode() + b"\n"
    )
    created_log = write_secret_file(
        log_key_file(settings), generate_signer(log_origin(settings))[0].encode() + b"\n")
    return InitReport(settings.home, created_master, created_evidence, created_log)


def _read_hex_key(path: Path, what: str) -> bytes:
    try:
        raw = path.read_text().strip()
    except FileNotFoundError:
        raise ConfigError(f"{what} file {path} is missing; run `postbox init`") from None
    except OSError as exc:  # not readable, a directory, an I/O error...
        raise ConfigError(f"{what} file {path} cannot be read ({exc.strerror or exc})") from None
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        raise ConfigError(f"{what} in {path} is not hex") from None
    if len(key) != 32:
        raise ConfigError(f"{what} in {path} must be 32 bytes")
    return key


def load_master_key(settings: Settings) -> bytes:
    """The 32-byte service master key, from POSTBOX_MASTER_KEY or the key file."""
    if settings.master_key_hex is not None:
        try:
            key = bytes.fromhex(settings.master_key_hex)
        except ValueError:
            raise ConfigError("POSTBOX_MASTER_KEY is not hex") from None
        if len(key) != MASTER_KEY_BYTES:
            raise ConfigError("POSTBOX_MASTER_KEY must be 32 bytes (64 hex characters)")
        return key
    return _read_hex_key(settings.resolved_master_key_file, "master key")


def load_evidence_key(settings: Settings) -> EvidenceKey | None:
    path = evidence_key_file(settings)
    if not path.exists():
        return None
    return EvidenceKey.from_seed(_read_hex_key(path, "evidence signing key"))


def init_instance(settings: Settings, now: datetime) -> InitReport:
    """Key files (0600), then the schema by migration, then the evidence key's public record.

    Safe to run again: nothing existing is overwritten.
    """
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    report = create_key_files(settings)
    if settings.storage_url.startswith("file://"):
        Path(settings.storage_url.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        key = load_evidence_key(settings)
        if key is not None:
            with Session(engine) as session:
                if session.get(SigningKey, key.key_id) is None:
                    session.add(SigningKey(key_id=key.key_id, purpose="evidence",
                                           public_key=key.public_key, valid_from=now,
                                           created_at=now))
                    session.commit()
    finally:
        engine.dispose()
    return report


def retired_master_key_files(settings: Settings) -> list[Path]:
    return sorted(settings.key_dir.glob("master-retired-*.key"))


def load_retired_master_keys(settings: Settings) -> list[bytes]:
    """Master keys replaced by `postbox keys rotate-master`, kept until nothing needs them."""
    return [_read_hex_key(path, "retired master key")
            for path in retired_master_key_files(settings)]
