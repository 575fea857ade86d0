"""The instance folder: creates it and its key files (mode 0600) on ``postbox init``."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from postbox.config import Settings
from postbox.errors import ConfigError

MASTER_KEY_BYTES = 32


@dataclass(frozen=True)
class InitReport:
    home: Path
    created_master_key: bool


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


def init_instance(settings: Settings) -> InitReport:
    """Create the instance folder and the master key (the PIN pepper) if missing."""
    settings.home.mkdir(parents=True, exist_ok=True)
    created = False
    if settings.master_key_hex is None:
        key = secrets.token_bytes(MASTER_KEY_BYTES).hex().encode() + b"\n"
        created = write_secret_file(settings.resolved_master_key_file, key)
    return InitReport(home=settings.home, created_master_key=created)


def load_master_key(settings: Settings) -> bytes:
    """The 32-byte service master key, from POSTBOX_MASTER_KEY or the key file."""
    raw = settings.master_key_hex
    source = "POSTBOX_MASTER_KEY"
    if raw is None:
        path = settings.resolved_master_key_file
        try:
            raw = path.read_text().strip()
        except FileNotFoundError:
            raise ConfigError(f"master key file {path} is missing; run `postbox init`") from None
        source = str(path)
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        raise ConfigError(f"master key in {source} is not hex") from None
    if len(key) != MASTER_KEY_BYTES:
        raise ConfigError(f"master key in {source} must be {MASTER_KEY_BYTES} bytes")
    return key
