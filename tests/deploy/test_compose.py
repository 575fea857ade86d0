"""docker-compose.yml validated offline: schema, cross-references, settings names, no secrets."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
LONG_RUNNING = {"postgres", "minio", "mailpit", "redis", "web", "worker"}


def test_compose_spec_schema() -> None:
    tool = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run([str(tool), "--builtin-schema", "vendor.compose-spec",
                             str(ROOT / "docker-compose.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_service_has_an_image_or_build() -> None:
    for name, svc in SERVICES.items():
        assert "image" in svc or "build" in svc, name


def test_required_services_and_healthchecks() -> None:
    assert {"web", "worker", "postgres", "minio", "minio-init", "mailpit", "redis",
            "migrate"} <= set(SERVICES)
    for name in LONG_RUNNING:
        assert "healthcheck" in SERVICES[name], f"{name} has no healthcheck"
    assert SERVICES["migrate"]["restart"] == "no"  # migrations run once, as a job
    assert "--with-lock" in " ".join(SERVICES["minio-init"]["command"])


def test_cross_references_resolve() -> None:
    volumes, secrets = set(COMPOSE.get("volumes") or {}), set(COMPOSE.get("secrets") or {})
    for name, svc in SERVICES.items():
        for dep in svc.get("depends_on") or {}:
            assert dep in SERVICES, f"{name} depends on unknown {dep}"
        for vol in svc.get("volumes") or []:
            source = vol.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in volumes, f"{name} uses undeclared volume {source}"
        for secret in svc.get("secrets") or []:
            assert secret in secrets, f"{name} uses undeclared secret {secret}"


def _settings_names() -> set[str]:
    text = (ROOT / "postbox" / "config.py").read_text()
    return set(re.findall(r'"(POSTBOX_[A-Z0-9_]+)"', text))


def test_environment_matches_settings_names() -> None:
    known = _settings_names()
    assert "POSTBOX_DATABASE_URL" in known
    for name in ("web", "worker", "migrate"):
        for var in SERVICES[name]["environment"]:
            if var.startswith("POSTBOX_"):
                assert var in known, f"{name}: {var} is not a setting in postbox/config.py"


def test_no_secret_values_committed_and_env_example_covers_them() -> None:
    raw = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)(?::-[^}]*)?\}", raw))
    defaults = set(re.findall(r"\$\{([A-Z0-9_]+):-", raw))
    example = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    missing = used - set(example) - defaults
    assert not missing, f"variables without a default in .env.example: {sorted(missing)}"
    for key, value in example.items():
        if "PASSWORD" in key or "SECRET" in key:
            assert value.startswith("CHANGE-ME"), key
    for match in re.finditer(r"(?m)^\s*[A-Z_]*(PASSWORD|SECRET)[A-Z_]*:\s*(\S+)", raw):
        assert match.group(2).startswith("${"), f"literal secret in compose: {match.group(0)}"
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".env" in ignored and "secrets/" in ignored


@pytest.mark.parametrize("forbidden", ["gcc", "build-essential", "apt-get install"])
def test_dockerfile_final_stage_is_slim_and_non_root(forbidden: str) -> None:
    final = (ROOT / "Dockerfile").read_text().split("\nFROM ")[-1]
    assert forbidden not in final
    assert "\nUSER postbox" in final and "python:3.11-slim" in final
