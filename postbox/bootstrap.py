"""The one composition root: builds the database, blob store, key ring and clock from Settings.

``web.create_app`` and the CLI both call :func:`build`; nothing connects at import time.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from postbox.clock import Clock, SystemClock
from postbox.config import Settings
from postbox.db import make_engine, make_session_factory
from postbox.errors import ConfigError
from postbox.instance import (
    evidence_key_file,
    load_evidence_key,
    load_master_key,
    load_retired_master_keys,
)
from postbox.keyring import KeyRing
from postbox.uow import UnitOfWork
from storage.base import BlobStore
from storage.errors import StorageError
from storage.url import open_store


@dataclass
class Postbox:
    """Everything a service call needs, built once per process."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    store: BlobStore
    keys: KeyRing
    clock: Clock

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory)

    def close(self) -> None:
        self.engine.dispose()


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    store: BlobStore | None = None,
    engine: Engine | None = None,
) -> Postbox:
    """Wire the service from settings; tests pass their own clock, store or engine."""
    engine = engine or make_engine(settings.database_url)
    if store is None:
        try:
            store = open_store(settings.storage_url, os.environ)
        except StorageError as exc:
            raise ConfigError(f"POSTBOX_STORAGE_URL: {exc}") from None
        if hasattr(store, "root"):
            Path(store.root).mkdir(parents=True, exist_ok=True)
    evidence_key = load_evidence_key(settings)
    if evidence_key is None:  # fail at start-up, not at the first delivery
        raise ConfigError(f"the evidence signing key {evidence_key_file(settings)} is missing; "
                          "run `postbox init`")
    keys = KeyRing(
        master_key=load_master_key(settings),
        argon2=settings.argon2,
        max_concurrency=settings.argon2_max_concurrency,
        evidence_key=evidence_key,
        retired=load_retired_master_keys(settings),
    )
    return Postbox(
        settings=settings,
        engine=engine,
        # SQLite: take the write lock when a transaction starts, so concurrent writers wait on
        # the busy timeout instead of failing on a read-then-write upgrade ("database is locked").
        session_factory=make_session_factory(
            engine.execution_options(sqlite_begin="IMMEDIATE")
            if engine.dialect.name == "sqlite" else engine),
        store=store,
        keys=keys,
        clock=clock or SystemClock(),
    )
