"""The worker as operators run it: the CLI, the embedded thread, and the health check."""
from __future__ import annotations

import socket
import time
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from cli.main import main
from postbox.clock import FrozenClock
from postbox.mail import SmtpMailer, parse_smtp_url
from postbox.worker import start_worker_thread

from .conftest import invite, jobs, send


@pytest.fixture
def env(settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"POSTBOX_HOME": str(settings.home), "POSTBOX_DATABASE_URL": settings.database_url,
            "POSTBOX_MASTER_KEY": settings.master_key_hex or "",
            "POSTBOX_ARGON2_MEMORY_KIB": "64", "POSTBOX_ARGON2_ITERATIONS": "1",
            "POSTBOX_ARGON2_LANES": "1"}


def test_worker_once_status_and_eml_default(pb, org, env, settings) -> None:
    pb.clock = FrozenClock(datetime.now(UTC))  # the CLI runs on the real clock
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1")
    runner = CliRunner()
    once = runner.invoke(main, ["worker", "--once"], env=env)
    assert once.exit_code == 0, once.output
    assert "2 jobs run" in once.output
    assert len(list((settings.home / "mail").glob("*.eml"))) == 1
    status = runner.invoke(main, ["worker", "--status"], env=env)
    assert "notice_mail\tdone\t1" in status.output and "nothing due" in status.output
    assert runner.invoke(main, ["worker", "--check"], env=env).exit_code == 1  # no heartbeat
    beat = settings.home / "run"
    beat.mkdir(parents=True, exist_ok=True)
    (beat / f"worker-{socket.gethostname()}.beat").touch()
    assert runner.invoke(main, ["worker", "--check"], env=env).output.strip() == "ok"


def test_reminder_and_webhook_commands(pb, org, env) -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["reminders", "set", "--org", org, "--after", "3,7",
                               "--before-due", "2"], env=env)
    assert out.exit_code == 0 and "after 3,7 days; before due 2 days" in out.output
    added = runner.invoke(main, ["webhooks", "add", "--org", org, "--url",
                                 "https://hooks.example.org/in", "--events",
                                 "consigned,retrieved"], env=env)
    assert added.exit_code == 0 and added.output.strip().splitlines()[-1].startswith("whsec_")
    listed = runner.invoke(main, ["webhooks", "list", "--org", org], env=env)
    assert "https://hooks.example.org/in\tconsigned,retrieved\tenabled" in listed.output
    refused = runner.invoke(main, ["webhooks", "add", "--org", org, "--url",
                                   "http://10.0.0.5/in", "--events", "consigned"], env=env)
    assert refused.exit_code == 1 and refused.output.startswith("error:")


def test_embedded_worker_thread(pb, org, smtp_server) -> None:
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1")
    handle = start_worker_thread(pb, idle_s=0.05,
                                 mailer=SmtpMailer(parse_smtp_url(smtp_server.url)))
    try:
        deadline = time.monotonic() + 10
        while not smtp_server.messages and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        handle.stop(timeout=10)
    assert len(smtp_server.messages) == 1 and not handle.thread.is_alive()
    assert all(j.status == "done" for j in jobs(pb))
