"""Settings: one frozen object, read once from ``POSTBOX_*`` environment variables.

With no variable set you get the embedded default: an instance folder (``./instance`` or
``POSTBOX_HOME``) holding SQLite, the file blob store, outgoing mail as .eml files and keys.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from crypto.kdf import Argon2Params
from postbox.errors import ConfigError


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    storage_url: str
    smtp_url: str | None = None
    ratelimit_url: str = "memory://"
    master_key_file: Path | None = None
    master_key_hex: str | None = field(default=None, repr=False)
    argon2: Argon2Params = Argon2Params()
    argon2_max_concurrency: int = 4
    max_inflight: int = 32  # requests in progress per process before 503 (web/overload.py)
    max_document_bytes: int = 50 * 1024 * 1024
    allowed_types: tuple[str, ...] = ("application/pdf",)
    notice_window_s: int = 600
    session_idle_s: int = 600
    session_absolute_s: int = 3600
    login_max_failures: int = 5
    public_url: str = "http://127.0.0.1:8000"
    # Outbox, notices and webhooks (postbox/outbox.py, notices.py, webhooks.py).
    mail_from: str = "postbox@localhost"
    smtp_timeout_s: int = 30
    notice_show_address: bool = False
    outbox_max_attempts: int = 15  # with the backoff below: about 16 h of trying on average
    outbox_lease_s: int = 300
    outbox_backoff_base_s: int = 30
    outbox_backoff_cap_s: int = 6 * 3600
    webhook_timeout_s: int = 10
    webhook_disable_after_s: int = 5 * 86400
    webhook_allow_private: bool = False

    @property
    def key_dir(self) -> Path:
        return self.home / "keys"

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.key_dir / "master.key"

    def with_overrides(self, **changes: object) -> "Settings":
        return replace(self, **changes)  # type: ignore[arg-type]


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _mail_from(env: Mapping[str, str]) -> str:
    value = env.get("POSTBOX_MAIL_FROM") or "postbox@localhost"
    # It goes into the From header and the SMTP envelope: refuse, never clean, line breaks.
    if any(ch in value for ch in "\r\n\0") or "@" not in value or len(value) > 254:
        raise ConfigError("POSTBOX_MAIL_FROM must be one e-mail address (optionally with a name)")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from the environment; fail fast on a malformed value."""
    env = os.environ if env is None else env
    home = Path(env.get("POSTBOX_HOME") or Path.cwd() / "instance").resolve()
    database_url = env.get("POSTBOX_DATABASE_URL") or f"sqlite:///{home / 'postbox.sqlite3'}"
    storage_url = env.get("POSTBOX_STORAGE_URL") or f"file://{home / 'blobs'}"
    if not storage_url.startswith(("file://", "s3://")):
        raise ConfigError("POSTBOX_STORAGE_URL must start with file:// or s3://")
    cost = Argon2Params(
        memory_kib=_int(env, "POSTBOX_ARGON2_MEMORY_KIB", Argon2Params.memory_kib),
        iterations=_int(env, "POSTBOX_ARGON2_ITERATIONS", Argon2Params.iterations),
        lanes=_int(env, "POSTBOX_ARGON2_LANES", Argon2Params.lanes),
    )
    if cost.memory_kib < 8 * cost.lanes or cost.iterations < 1 or cost.lanes < 1:
        raise ConfigError("Argon2 cost too small: memory >= 8*lanes KiB, iterations >= 1")
    key_file = env.get("POSTBOX_MASTER_KEY_FILE")
    return Settings(
        home=home,
        database_url=database_url,
        storage_url=storage_url,
        smtp_url=env.get("POSTBOX_SMTP_URL") or None,
        ratelimit_url=env.get("POSTBOX_RATELIMIT_URL") or "memory://",
        master_key_file=Path(key_file) if key_file else None,
        master_key_hex=env.get("POSTBOX_MASTER_KEY") or None,
        argon2=cost,
        argon2_max_concurrency=_int(env, "POSTBOX_ARGON2_MAX_CONCURRENCY", 4) or 1,
        max_inflight=_int(env, "POSTBOX_MAX_INFLIGHT", 32) or 1,
        max_document_bytes=_int(env, "POSTBOX_MAX_DOCUMENT_BYTES", 50 * 1024 * 1024),
        notice_window_s=_int(env, "POSTBOX_NOTICE_WINDOW", 600),
        session_idle_s=_int(env, "POSTBOX_SESSION_IDLE", 600),
        session_absolute_s=_int(env, "POSTBOX_SESSION_ABSOLUTE", 3600),
        login_max_failures=_int(env, "POSTBOX_LOGIN_MAX_FAILURES", 5) or 1,
        public_url=env.get("POSTBOX_PUBLIC_URL") or "http://127.0.0.1:8000",
        mail_from=_mail_from(env),
        smtp_timeout_s=_int(env, "POSTBOX_SMTP_TIMEOUT", 30) or 1,
        notice_show_address=_bool(env, "POSTBOX_NOTICE_SHOW_ADDRESS"),
        outbox_max_attempts=_int(env, "POSTBOX_OUTBOX_MAX_ATTEMPTS", 15) or 1,
        outbox_lease_s=_int(env, "POSTBOX_OUTBOX_LEASE", 300) or 1,
        outbox_backoff_base_s=_int(env, "POSTBOX_OUTBOX_BACKOFF_BASE", 30),
        outbox_backoff_cap_s=_int(env, "POSTBOX_OUTBOX_BACKOFF_CAP", 6 * 3600),
        webhook_timeout_s=_int(env, "POSTBOX_WEBHOOK_TIMEOUT", 10) or 1,
        webhook_disable_after_s=_int(env, "POSTBOX_WEBHOOK_DISABLE_AFTER", 5 * 86400),
        webhook_allow_private=_bool(env, "POSTBOX_WEBHOOK_ALLOW_PRIVATE"),
    )
