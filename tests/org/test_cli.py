"""`postbox org user add`: a one-time invitation link, its code alone on the last line."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from tests.fixtures.postbox import CHEAP_ENV


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_org_user_add(tmp_path: Path, db_url: str) -> None:
    env = {"POSTBOX_HOME": str(tmp_path / "inst"), "POSTBOX_DATABASE_URL": db_url, **CHEAP_ENV,
           "POSTBOX_PUBLIC_URL": "https://post.example"}
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> list[str]:
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == code, (result.output, result.stderr)
        return result.stdout.strip().splitlines()

    run("init")
    run("org", "create", "Acme Bank", "--slug", "acme")
    lines = run("org", "user", "add", "--org", "acme", "--email", "Ada@Acme.example",
                "--role", "admin")
    link, code = lines[-2], lines[-1]
    assert link == f"https://post.example/org/join?code={code}"
    from postbox import staff
    from postbox.bootstrap import build
    from postbox.config import load_settings

    pb = build(load_settings(env))
    try:
        start = staff.begin_join(pb, code)
        assert (start.email, start.role, start.org_name) == ("ada@acme.example", "admin",
                                                             "Acme Bank")
    finally:
        pb.close()
    run("org", "user", "add", "--org", "acme", "--email", "x@acme.example", "--role", "boss",
        code=2)
    result = runner.invoke(main, ["org", "user", "add", "--org", "nope", "--email",
                                  "x@acme.example", "--role", "sender"], env=env)
    assert result.exit_code == 1 and result.stderr.startswith("error:")
