"""Backup and restore of an embedded instance: SQLite online backup, blobs and keys, one tar.

Consistency: the database is copied first with SQLite's online backup API; blobs are immutable
and always written before the row that names them commits, so every blob the snapshot refers
to exists. Blobs written later are orphans the reaper removes. The archive holds the key files:
whoever has it can read every PIN-protected postbox given PINs, so store it like the keys.
For PostgreSQL + S3 use pg_dump and bucket versioning (README).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from postbox.config import Settings
from postbox.errors import ConfigError, InvalidInput

FORMAT = "postbox-backup/1"


@dataclass(frozen=True)
class BackupReport:
    path: Path
    blobs: int
    bytes: int


def _sqlite_path(settings: Settings) -> Path:
    if not settings.database_url.startswith("sqlite:///"):
        raise ConfigError("backup covers the embedded default (SQLite); use pg_dump for "
                          "PostgreSQL (see README)")
    return Path(settings.database_url.removeprefix("sqlite:///"))


def _blob_root(settings: Settings) -> Path:
    if not settings.storage_url.startswith("file://"):
        raise ConfigError("backup covers the file store; use bucket versioning for S3")
    return Path(settings.storage_url.removeprefix("file://"))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o600) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def backup(settings: Settings, out: Path) -> BackupReport:
    db_path, blob_root = _sqlite_path(settings), _blob_root(settings)
    if not db_path.exists():
        raise ConfigError(f"no database at {db_path}; nothing to back up")
    manifest: dict[str, str] = {}
    count = total = 0
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar, \
            tempfile.TemporaryDirectory() as tmp:
        snapshot = Path(tmp) / "postbox.sqlite3"
        with sqlite3.connect(db_path) as src, sqlite3.connect(snapshot) as dst:
            src.backup(dst)
        dst.close()
        data = snapshot.read_bytes()
        manifest["db/postbox.sqlite3"] = hashlib.sha256(data).hexdigest()
        _add_bytes(tar, "db/postbox.sqlite3", data)
        for key_file in sorted(settings.key_dir.glob("*.key")):
            data = key_file.read_bytes()
            manifest[f"keys/{key_file.name}"] = hashlib.sha256(data).hexdigest()
            _add_bytes(tar, f"keys/{key_file.name}", data)
        for path in sorted(p for p in blob_root.rglob("*") if p.is_file()):
            rel = path.relative_to(blob_root).as_posix()
            if rel.startswith(".") or "/." in rel:
                continue  # temp files of writes in flight
            data = path.read_bytes()
            manifest[f"blobs/{rel}"] = hashlib.sha256(data).hexdigest()
            _add_bytes(tar, f"blobs/{rel}", data)
            count, total = count + 1, total + len(data)
        _add_bytes(tar, "MANIFEST.json", json.dumps({"format": FORMAT, "files": manifest},
                                                     indent=1).encode())
    return BackupReport(out, count, total)


def restore(settings: Settings, archive: Path) -> int:
    """Restore into an EMPTY instance; checks every file against the manifest first."""
    db_path, blob_root = _sqlite_path(settings), _blob_root(settings)
    if db_path.exists() or any(settings.key_dir.glob("*.key")) or (
            blob_root.exists() and any(blob_root.iterdir())):
        raise InvalidInput("restore needs an empty instance: it never overwrites data or keys")
    with tarfile.open(archive, mode="r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        if "MANIFEST.json" not in members:
            raise InvalidInput("not a Postbox backup (no MANIFEST.json)")
        manifest = json.loads(tar.extractfile(members["MANIFEST.json"]).read())  # type: ignore
        if manifest.get("format") != FORMAT:
            raise InvalidInput("unsupported backup format")
        files: dict[str, str] = manifest["files"]
        if set(members) - {"MANIFEST.json"} != set(files):
            raise InvalidInput("the archive and its manifest disagree")
        targets = {"db/postbox.sqlite3": db_path}
        for name in files:
            parts = name.split("/")
            if ".." in parts or name.startswith("/") or not members[name].isfile():
                raise InvalidInput(f"unsafe entry in backup: {name!r}")
            if parts[0] == "keys":
                targets[name] = settings.key_dir / parts[1]
            elif parts[0] == "blobs":
                targets[name] = blob_root.joinpath(*parts[1:])
        for name, digest in files.items():
            data = tar.extractfile(members[name]).read()  # type: ignore[union-attr]
            if hashlib.sha256(data).hexdigest() != digest:
                raise InvalidInput(f"backup file {name} is corrupt (hash mismatch)")
        settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name, target in targets.items():
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(tar.extractfile(members[name]).read())  # type: ignore[union-attr]
    return len(files)
