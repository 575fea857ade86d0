"""/healthz, /readyz (naming what is degraded), /metrics, request ids, and no secrets in logs."""
from __future__ import annotations

import io
import json
import logging
import socket

import pytest

from postbox import delivery
from tests.fixtures.postbox import pdf_bytes
from tests.web.helpers import login
from web import create_app
from web.observability import JsonFormatter

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@SQLITE
def test_healthz_and_readyz(client) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"] == {
        "database": "ok", "storage": "ok", "smtp": "ok"}


@SQLITE
def test_readyz_names_a_degraded_smtp(pb) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    object.__setattr__(pb, "settings", pb.settings.with_overrides(
        smtp_url=f"smtp://127.0.0.1:{port}"))
    app = create_app(pb, {"TESTING": True})
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    body = answer.get_json()
    assert body["ready"] is False and body["checks"]["smtp"].startswith("unreachable")
    assert body["checks"]["database"] == "ok"


@SQLITE
def test_metrics_and_request_ids(client, pb, org, alice) -> None:
    delivery.deliver(pb, org, alice.external_id, io.BytesIO(pdf_bytes("m")), "M", "m.pdf")
    client.post("/login", data={"identifier": "x@y.org", "pin": "000000", "otp": "000000"})
    answer = client.get("/healthz", headers={"X-Request-ID": "abcdef123456"})
    assert answer.headers["X-Request-ID"] == "abcdef123456"
    assert len(client.get("/healthz", headers={"X-Request-ID": "<script>x</script>"})
               .headers["X-Request-ID"]) == 16
    text = client.get("/metrics").get_data(as_text=True)
    assert 'postbox_documents{status="consigned"} 1.0' in text
    assert "postbox_outbox_pending" in text and "postbox_outbox_oldest_age_seconds" in text
    assert 'postbox_http_requests_total{endpoint="ops.healthz",method="GET",status="200"}' in text


@SQLITE
def test_login_failures_are_counted_and_logs_carry_no_secrets(client, pb, alice, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    from tests.web.helpers import post

    post(client, "/login", {"identifier": alice.email, "pin": "999888", "otp": alice.otp()})
    login(client, alice)
    text = client.get("/metrics").get_data(as_text=True)
    assert "postbox_login_failures_total 1.0" in text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (alice.email, "999888", "482917", alice.totp_secret, alice.recovery_code):
        assert secret not in logged


def test_json_log_lines_are_one_object_each() -> None:
    record = logging.LogRecord("postbox.web", logging.ERROR, __file__, 1, 'bad "value"\nnext',
                               None, None)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line)["message"] == 'bad "value"\nnext'  # newlines cannot forge lines
