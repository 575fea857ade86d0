"""Webhooks: signed per Standard Webhooks, retried, disabled after a long failing streak."""
from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from postbox import auth, orgs, outbox, reading, webhooks
from postbox.clock import FrozenClock
from postbox.errors import InvalidInput
from postbox.mail import SmtpMailer, parse_smtp_url
from postbox.models import StaffUser, new_id
from tests.web.helpers import PIN, activate_person

from .conftest import invite, jobs, send

CAP = timedelta(hours=6)


def _register(pb, org, receiver, events):  # type: ignore[no-untyped-def]
    view, secret = webhooks.create_endpoint(pb, org, receiver.url, events)
    receiver.secret = secret
    return view


def test_events_arrive_signed_and_verifiable(pb, clock, org, allow_private, receiver,
                                             smtp_worker) -> None:
    endpoint = _register(pb, org, receiver, ["consigned", "notified"])
    invite(pb, org, "C-1", "alice@example.org")
    doc = send(pb, org, "C-1")
    smtp_worker.drain()
    assert [d.payload["type"] for d in receiver.deliveries] == ["consigned", "notified"]
    for d in receiver.deliveries:
        assert d.signature_ok and d.answered == 200
        assert d.headers["webhook-id"].startswith("msg_")
        assert d.headers["webhook-timestamp"] == str(int(clock.now().timestamp()))
        assert d.headers["content-type"] == "application/json"
        assert d.payload["data"]["document_id"] == doc
        assert d.payload["data"]["recipient"] == "C-1"  # the sender's own id, not ours
        # Our own verifier agrees with the spec's.
        assert webhooks.verify(receiver.secret, d.headers, d.body,
                               clock.now().timestamp())["type"] == d.payload["type"]
    assert webhooks.get_endpoint(pb, org, endpoint.id).last_success_at == clock.now()


def test_a_failing_receiver_gets_its_retries_with_one_webhook_id(
        pb, clock, org, allow_private, receiver, smtp_worker) -> None:
    _register(pb, org, receiver, ["consigned"])
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1")
    receiver.statuses.extend([500, 503])
    for _ in range(3):
        smtp_worker.drain()
        clock.advance(seconds=CAP.total_seconds())
    assert [d.answered for d in receiver.deliveries] == [500, 503, 200]
    assert len({d.headers["webhook-id"] for d in receiver.deliveries}) == 1
    assert len({d.headers["webhook-timestamp"] for d in receiver.deliveries}) == 3
    assert all(d.signature_ok for d in receiver.deliveries)
    [job] = jobs(pb, "webhook")
    assert job.status == "done" and job.attempts == 3
    [view] = webhooks.list_endpoints(pb, org)
    assert view.failure_count == 0 and view.enabled


def test_timeouts_count_as_failures(pb, clock, org, allow_private, receiver,
                                    make_worker) -> None:
    pb.settings = pb.settings.with_overrides(webhook_timeout_s=1)
    worker = make_worker()
    _register(pb, org, receiver, ["consigned"])
    receiver.delay_s = 1.3
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1")
    worker.drain()
    [job] = jobs(pb, "webhook")
    assert job.status == "pending" and "Timeout" in (job.last_error or "")


def test_disabled_after_a_failing_streak_and_the_org_is_told(
        pb, clock, org, allow_private, receiver, smtp_server, make_worker) -> None:
    pb.settings = pb.settings.with_overrides(webhook_disable_after_s=3600,
                                             outbox_max_attempts=20)
    worker = make_worker(SmtpMailer(parse_smtp_url(smtp_server.url)))
    with pb.uow() as uow:
        uow.session.add(StaffUser(id=new_id(), org_id=orgs.get_org(pb, org).id,
                                  email="ops@acme.example",
                                  role="admin", created_at=clock.now()))
        uow.commit()
    endpoint = _register(pb, org, receiver, ["consigned"])
    receiver.statuses.extend([500] * 100)
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1")
    for _ in range(8):
        worker.drain()
        clock.advance(seconds=CAP.total_seconds())
    view = webhooks.get_endpoint(pb, org, endpoint.id)
    assert not view.enabled and "no successful delivery since" in (view.disabled_reason or "")
    failed_attempts = len(receiver.deliveries)
    assert failed_attempts >= webhooks.MIN_FAILURES_TO_DISABLE
    # The organisation's admins got an e-mail; the delivery went dead, visibly.
    alerts = [m for m in smtp_server.messages if m["To"] == "ops@acme.example"]
    assert len(alerts) == 1 and endpoint.id in alerts[0].get_content()
    assert [d.kind for d in outbox.dead_letters(pb)] == ["webhook"]
    # No more calls while disabled, and new events are not queued for it.
    send(pb, org, "C-1")
    worker.drain()
    assert len(receiver.deliveries) == failed_attempts
    # Re-enabled, it works again.
    webhooks.enable_endpoint(pb, org, endpoint.id)
    receiver.statuses.clear()
    send(pb, org, "C-1")
    worker.drain()
    assert receiver.deliveries[-1].answered == 200


def test_retrieved_event_on_reading(pb, clock, org, allow_private, receiver,
                                    smtp_worker) -> None:
    _register(pb, org, receiver, ["retrieved"])
    alice = activate_person(pb, clock, org, "C-1", "alice@example.org")
    doc = send(pb, org, "C-1")
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    reading.read_all(pb, vault, doc)
    smtp_worker.drain()
    [d] = receiver.deliveries
    assert d.payload["type"] == "retrieved" and d.signature_ok


def test_private_destinations_are_refused(pb, org, receiver, smtp_worker) -> None:
    for url in (receiver.url, "https://127.0.0.1/x", "https://10.1.2.3/x",
                "https://[::1]/x", "https://localhost/x", "https://169.254.169.254/x",
                "https://user:pw@example.org/x", "ftp://example.org/x",
                "https://example.org/x\r\nX: y"):
        with pytest.raises(InvalidInput):
            webhooks.create_endpoint(pb, org, url, ["consigned"])
    with pytest.raises(InvalidInput):
        webhooks.create_endpoint(pb, org, "https://hooks.example.org/x", ["everything"])
    # Registered while allowed, then the operator forbids private targets: never called.
    pb.settings = pb.settings.with_overrides(webhook_allow_private=True)
    _register(pb, org, receiver, ["consigned"])
    pb.settings = pb.settings.with_overrides(webhook_allow_private=False)
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1")
    smtp_worker.drain()
    assert receiver.deliveries == []
    [job] = jobs(pb, "webhook")
    assert job.status == "dead" and "public address" in (job.last_error or "")


def test_verify_refuses_tampering_staleness_and_wrong_keys() -> None:
    secret, other = webhooks.new_secret(), webhooks.new_secret()
    body, now = b'{"type":"consigned"}', time.time()
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(now)),
               "webhook-signature": webhooks.sign(secret, "msg_1", int(now), body)}
    assert webhooks.verify(secret, headers, body, now) == {"type": "consigned"}
    # Several signatures (a secret being rotated): any one that matches will do.
    rotated = {**headers, "webhook-signature": "v1,bm9wZQ== " + headers["webhook-signature"]}
    assert webhooks.verify(secret, rotated, body, now)
    cases = [
        (secret, headers, body + b" ", now),
        (other, headers, body, now),
        (secret, {**headers, "webhook-id": "msg_2"}, body, now),
        (secret, headers, body, now + 301),
        (secret, {k: v for k, v in headers.items() if k != "webhook-signature"}, body, now),
    ]
    for args in cases:
        with pytest.raises(webhooks.SignatureInvalid):
            webhooks.verify(*args)


def test_cli_verify_helper(tmp_path) -> None:
    from cli.main import main

    secret, now = webhooks.new_secret(), int(time.time())
    body = b'{"data":{},"timestamp":"x","type":"notified"}'
    (tmp_path / "body.json").write_bytes(body)
    args = ["webhooks", "verify", "--id", "msg_9", "--timestamp", str(now), "--signature",
            webhooks.sign(secret, "msg_9", now, body), str(tmp_path / "body.json")]
    ok = CliRunner().invoke(main, args, env={"POSTBOX_WEBHOOK_SECRET": secret})
    assert ok.exit_code == 0 and "valid: notified" in ok.output
    (tmp_path / "body.json").write_bytes(body.replace(b"notified", b"retrieved"))
    bad = CliRunner().invoke(main, args, env={"POSTBOX_WEBHOOK_SECRET": secret})
    assert bad.exit_code == 1 and "no signature matches" in bad.output


def test_the_documented_receiver_snippet_verifies_a_real_delivery(
        pb, org, allow_private, receiver, smtp_worker) -> None:
    doc_text = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    found = re.search(r"```python\n(.*?)```", doc_text, re.DOTALL)
    assert found is not None
    snippet = found.group(1)
    pb.clock = FrozenClock(datetime.now(UTC))  # the snippet checks against the real clock
    _register(pb, org, receiver, ["consigned"])
    invite(pb, org, "C-1", "alice@example.org")
    send(pb, org, "C-1")
    smtp_worker.drain()
    [d] = receiver.deliveries
    namespace: dict[str, Any] = {}
    exec(snippet.replace('"whsec_..."', repr(receiver.secret)), namespace)  # noqa: S102
    assert namespace["handle"](d.headers, d.body) == 200
    assert namespace["handle"](d.headers, d.body) == 200  # a retry: deduplicated, still 2xx
    assert namespace["handle"](d.headers, d.body + b" ") == 400
