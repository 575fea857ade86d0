"""The schema comes from migrations only, and it matches the models on both databases."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, Integer, MetaData, inspect

from postbox.db import (
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    migrate,
)
from postbox.models import Base

# The core tables of the first migration must always be there; every table the models
# declare must be created by some migration (features add theirs on their own branch).
CORE_TABLES = {
    "organisations", "staff_users", "api_tokens", "recipients", "recipient_links",
    "wrapped_keys", "cases", "documents", "evidence", "outbox", "vault_sessions", "login_throttle",
    "pending_blobs", "signing_keys",
}
TABLES = set(Base.metadata.tables)
assert CORE_TABLES <= TABLES


def _drift(engine: Engine, metadata: MetaData) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))


def test_migrations_create_every_table_at_head(engine: Engine) -> None:
    assert set(inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
    assert current_revision(engine) == head_revision()


def test_models_and_migrated_schema_do_not_drift(engine: Engine) -> None:
    assert _drift(engine, Base.metadata) == []


def test_drift_check_would_notice_a_change(engine: Engine) -> None:
    # Guards the test above against comparing nothing with nothing.
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["outbox"].append_column(Column("priority", Integer))
    diffs = _drift(engine, changed)
    assert [d[0] for d in diffs] == ["add_column"]


def test_migrate_again_is_a_no_op(engine: Engine, db_url: str) -> None:
    migrate(engine)
    migrate(db_url)
    assert current_revision(engine) == head_revision()
    assert _drift(engine, Base.metadata) == []


def test_downgrade_to_base_and_upgrade_again(engine: Engine) -> None:
    with engine.connect() as conn:
        command.downgrade(alembic_config(conn), "base")
        conn.commit()
    assert current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    assert current_revision(engine) == head_revision()
    assert _drift(engine, Base.metadata) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_runs_in_wal_mode_with_foreign_keys(engine: Engine) -> None:
    with engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        }
    assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000,
                      "synchronous": 1}  # 1 = NORMAL


def test_fresh_sqlite_file_is_migrated_from_scratch(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
        assert set(inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
    finally:
        engine.dispose()


def test_alembic_given_only_a_url_migrates_too(tmp_path: Path) -> None:
    # The path env.py takes when Alembic runs without postbox.db.migrate (e.g. by hand).
    url = f"sqlite:///{tmp_path / 'by-url.sqlite3'}"
    config = alembic_config()
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "heads")
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
