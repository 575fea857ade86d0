"""Settings load from POSTBOX_* and fail fast on bad values."""
from pathlib import Path

import pytest

from postbox.config import load_settings
from postbox.errors import ConfigError


def test_embedded_default_lives_under_home(tmp_path: Path) -> None:
    s = load_settings({"POSTBOX_HOME": str(tmp_path)})
    assert s.home == tmp_path.resolve()
    assert s.database_url == f"sqlite:///{tmp_path.resolve() / 'postbox.sqlite3'}"
    assert s.storage_url.startswith("file://")


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = load_settings({"POSTBOX_HOME": str(tmp_path)})
    with pytest.raises(Exception):
        s.home = Path("/")  # type: ignore[misc]


@pytest.mark.parametrize(
    "env",
    [
        {"POSTBOX_ARGON2_MEMORY_KIB": "lots"},
        {"POSTBOX_NOTICE_WINDOW": "-5"},
        {"POSTBOX_STORAGE_URL": "ftp://x"},
        {"POSTBOX_ARGON2_ITERATIONS": "0"},
    ],
)
def test_bad_values_fail_fast(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_settings({"POSTBOX_HOME": str(tmp_path), **env})
