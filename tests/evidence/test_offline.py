"""The verifier runs offline: no instance, no database, no server, no database driver."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from postbox import trust

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("sqlalchemy", "psycopg", "alembic", "flask", "boto3", "postbox.db",
             "postbox.bootstrap", "postbox.models", "storage")


def _bare_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTBOX_")}
    # Anything that tried to connect would fail loudly here, rather than find a database.
    env["POSTBOX_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/nothing"
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_verify_in_a_bare_process(world, tmp_path: Path) -> None:
    world.cosign()
    bundle = tmp_path / "bundle.zip"
    world.export(bundle, document=world.docs["one"], org="acme")
    (tmp_path / "trust.json").write_bytes(trust.trust_document(world.pb))
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    script = (
        "import json, sys; from pathlib import Path\n"
        "from postbox.proofs.verify import verify_bundle\n"
        "r = verify_bundle(Path(sys.argv[1]), trust_file=Path(sys.argv[2]), jobs=2)\n"
        "print(json.dumps({'ok': r.ok, 'modules': sorted(sys.modules)}))\n")
    out = subprocess.run([sys.executable, "-c", script, str(bundle), str(tmp_path / "trust.json")],
                         cwd=empty, env=_bare_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ok"]
    loaded = [m for m in result["modules"] if m.split(".")[0] in FORBIDDEN
              or any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert loaded == []
    cli = subprocess.run([sys.executable, "-m", "cli.main", "proofs", "verify", str(bundle),
                          "--trust", str(tmp_path / "trust.json")],
                         cwd=empty, env=_bare_env(), capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert cli.stdout.strip().splitlines()[-1] == "OK: all 12 checks passed"
    assert list(empty.iterdir()) == []  # no instance folder, no database file
