"""Operations endpoints and signals: /healthz, /readyz, /metrics, request ids, JSON logs.

- /healthz: the process answers. /readyz: database, blob store and SMTP reachable; a degraded
  component is named and the answer is 503.
- /metrics: Prometheus text format. Request counts and latencies are per process; queue depth
  and age, documents by status and dead letters are read from the database at scrape time, so
  they agree across nodes.
- Every request gets a request id (a valid incoming ``X-Request-ID`` is kept) that is echoed
  in the response and in every log line. ``POSTBOX_LOG_FORMAT=json`` writes one JSON object
  per line. Log lines never carry request bodies, cookies or headers.
"""
from __future__ import annotations

import json
import logging
import re
import secrets
import time
import weakref
from typing import Any

from flask import Blueprint, Flask, Response, g, has_request_context, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST

from postbox import health
from web.sessions import postbox

bp = Blueprint("ops", __name__)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("postbox_http_requests_total", "HTTP requests",
                                ["endpoint", "method", "status"], registry=self.registry)
        self.latency = Histogram("postbox_http_request_seconds", "HTTP request latency",
                                 ["endpoint"], registry=self.registry)
        self.login_failures = Counter("postbox_login_failures_total", "Failed logins",
                                      registry=self.registry)
        self.documents = Gauge("postbox_documents", "Documents by status", ["status"],
                               registry=self.registry)
        self.queue_depth = Gauge("postbox_outbox_pending", "Jobs waiting in the outbox",
                                 registry=self.registry)
        self.queue_age = Gauge("postbox_outbox_oldest_age_seconds",
                               "Age of the oldest waiting job", registry=self.registry)
        self.dead = Gauge("postbox_outbox_dead", "Dead-lettered jobs", registry=self.registry)


class _LoginFailures(logging.Handler):
    """Counts the auth service's "login failed" lines (they carry no identifier) into the
    metrics of every live app; one handler per process, so apps leave nothing behind."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.metrics: weakref.WeakSet[Metrics] = weakref.WeakSet()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("login failed"):
            for m in list(self.metrics):
                m.login_failures.inc()


_login_failures = _LoginFailures()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
            "logger": record.name, "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = getattr(g, "request_id", None)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(g, "request_id", "-") if has_request_context() else "-"
        return True


def _configure_logging(log_format: str) -> None:
    """Request ids (and JSON, if asked) on the root logger's handlers; one handler if none."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
        root.setLevel(logging.INFO)
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    for handler in root.handlers:
        if not any(isinstance(f, _RequestIdFilter) for f in handler.filters):
            handler.addFilter(_RequestIdFilter())
        if type(handler) is logging.StreamHandler:  # ours or the CLI's; leave test capture be
            handler.setFormatter(formatter)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    report = health.readiness(postbox())
    return jsonify(ready=report.ready, checks=report.checks), 200 if report.ready else 503


@bp.get("/metrics")
def metrics() -> Response:
    m: Metrics = bp_metrics()
    pb = postbox()
    stats = health.queue_stats(pb)
    m.queue_depth.set(stats.pending)
    m.queue_age.set(stats.oldest_age_s)
    m.dead.set(stats.dead)
    for status, count in health.document_counts(pb).items():
        m.documents.labels(status=status).set(count)
    return Response(generate_latest(m.registry), mimetype=CONTENT_TYPE_LATEST)


def bp_metrics() -> Metrics:
    from flask import current_app

    return current_app.extensions["postbox.metrics"]  # type: ignore[no-any-return]


def init_app(app: Flask, log_format: str = "text") -> None:
    metrics_ = Metrics()
    app.extensions["postbox.metrics"] = metrics_
    auth_log = logging.getLogger("postbox.auth")
    if _login_failures not in auth_log.handlers:
        auth_log.addHandler(_login_failures)
    auth_log.setLevel(logging.INFO)
    _login_failures.metrics.add(metrics_)
    _configure_logging(log_format)

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(8)
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        endpoint = request.endpoint or "unmatched"
        metrics_.requests.labels(endpoint, request.method, str(response.status_code)).inc()
        if "started" in g:
            metrics_.latency.labels(endpoint).observe(time.perf_counter() - g.started)
        return response

    app.register_blueprint(bp)
