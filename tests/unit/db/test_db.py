"""Engine setup, URLs and revisions, without a database."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy.exc import OperationalError

import postbox
from postbox.db import alembic_config, head_revision, is_postgres, make_engine, normalise_url


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u:p@db.example:5433/postbox",
        "postgresql://u:p@db.example:5433/postbox",
        "postgresql+psycopg://u:p@db.example:5433/postbox",
    ],
)
def test_postgres_urls_use_psycopg3(url: str) -> None:
    parsed = normalise_url(url)
    assert parsed.drivername == "postgresql+psycopg"
    assert (parsed.username, parsed.password, parsed.host, parsed.port, parsed.database) == (
        "u", "p", "db.example", 5433, "postbox",
    )


def test_sqlite_url_is_left_alone() -> None:
    assert normalise_url("sqlite:////tmp/x.sqlite3").drivername == "sqlite"


def test_make_engine_does_not_connect() -> None:
    engine = make_engine("postgres://nobody@127.0.0.1:9/none")  # port 9: nothing listens
    assert is_postgres(engine)
    assert engine.pool._pre_ping
    engine.dispose()


def test_sqlite_engine_is_not_postgres(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert not is_postgres(engine)
    assert not (tmp_path / "db.sqlite3").exists()  # nothing opened yet
    engine.dispose()


def test_missing_sqlite_folder_fails_on_first_use(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'db.sqlite3'}")
    with pytest.raises(OperationalError):
        engine.connect()
    engine.dispose()


def test_one_head_revision_ships() -> None:
    assert head_revision()  # at least one head ships


def test_no_create_all_in_postbox() -> None:
    # The schema is made by migrations only; create_all would hide a missing migration.
    root = Path(postbox.__file__).parent
    offenders = [p for p in root.rglob("*.py") if "create_all(" in p.read_text()]
    assert offenders == []


def test_offline_sql_for_a_dba() -> None:
    config = alembic_config()
    config.set_main_option("sqlalchemy.url", "postgresql+psycopg://dba@db.example/postbox")
    config.output_buffer = io.StringIO()
    command.upgrade(config, "heads", sql=True)
    sql = config.output_buffer.getvalue()
    from postbox.models import Base

    assert sql.count("CREATE TABLE") == len(Base.metadata.tables) + 1  # and alembic_version
    assert "TIMESTAMP WITH TIME ZONE" in sql
