"""Webhooks for senders: endpoints, events, and deliveries signed per Standard Webhooks.

An event (``consigned``, ``notified``, ...) becomes one outbox job per subscribed endpoint, in
the transaction of the change it reports. Each delivery is a POST of
``{"type", "timestamp", "data"}`` with the headers ``webhook-id`` (the same for every attempt
and endpoint of one event: receivers deduplicate on it), ``webhook-timestamp`` (seconds, of
this attempt) and ``webhook-signature`` (``v1,`` + base64 HMAC-SHA256 over
``id.timestamp.body`` under the endpoint's ``whsec_`` secret). Any answer but 2xx, a timeout or
no connection is retried with the outbox's backoff. An endpoint that fails without a single
success for ``POSTBOX_WEBHOOK_DISABLE_AFTER`` seconds (and at least a few attempts) is
disabled, flagged with the reason, and the organisation's admins are e-mailed.

Destinations on private, loopback or link-local addresses are refused unless
``POSTBOX_WEBHOOK_ALLOW_PRIVATE`` is set (a sender must not make us probe our own network).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from postbox import outbox
from postbox.bootstrap import Postbox
from postbox.errors import InvalidInput, NotFound, PostboxError
from postbox.evidence import utc_stamp
from postbox.models import Outbox, RecipientLink, WebhookEndpoint, new_id
from postbox.orgs import find_org

EVENT_TYPES = ("consigned", "notified", "notice_failed", "retrieved", "held", "replied",
               "print_queued")
SECRET_PREFIX = "whsec_"
SEAL_PURPOSE = "webhook-secret"
TOLERANCE_S = 300
MIN_FAILURES_TO_DISABLE = 5
MAX_ENDPOINTS_PER_ORG = 20


class SignatureInvalid(PostboxError):
    """The webhook's signature, timestamp or headers do not check out."""

    kind = "webhook-signature-invalid"


# -- signing (Standard Webhooks) --------------------------------------------------------------

def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("a webhook secret is whsec_ followed by base64") from None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one delivery."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float,
           tolerance_s: int = TOLERANCE_S) -> dict[str, Any]:
    """Check a delivery as a receiver would; returns the parsed payload or raises."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, given = (lower.get(h, "") for h in
                            ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and stamp and given):
        raise SignatureInvalid("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureInvalid("webhook-timestamp is not an integer") from None
    if abs(now - timestamp) > tolerance_s:
        raise SignatureInvalid("webhook-timestamp is too old or in the future")
    expected = sign(secret, msg_id, timestamp, body)
    for candidate in given.split():
        if hmac.compare_digest(candidate.encode(), expected.encode()):
            try:
                return json.loads(body)  # type: ignore[no-any-return]
            except ValueError:
                raise SignatureInvalid("the body is not JSON") from None
    raise SignatureInvalid("no signature matches")


# -- endpoints ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class EndpointView:
    id: str
    url: str
    events: tuple[str, ...]
    description: str | None
    enabled: bool
    failure_count: int
    failing_since: datetime | None
    last_success_at: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    created_at: datetime


def _view(row: WebhookEndpoint) -> EndpointView:
    return EndpointView(row.id, row.url, tuple(e for e in row.events.split(",") if e),
                        row.description, row.enabled, row.failure_count, row.failing_since,
                        row.last_success_at, row.disabled_at, row.disabled_reason,
                        row.created_at)


def _events(events: list[str] | tuple[str, ...]) -> str:
    chosen = sorted({e.strip() for e in events if e.strip()})
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if not chosen or unknown:
        raise InvalidInput(f"events must be some of {', '.join(EVENT_TYPES)}")
    return ",".join(chosen)


def check_url(url: str, allow_private: bool) -> str:
    """An https URL without credentials (http only where private targets are allowed)."""
    if not isinstance(url, str) or len(url) > 2000 or any(c.isspace() for c in url) \
            or any(ord(c) < 32 for c in url):
        raise InvalidInput("a webhook URL is one line of at most 2000 characters")
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise InvalidInput("a webhook URL must be https://host/...")
    if parts.username or parts.password:
        raise InvalidInput("put no credentials in a webhook URL; verify the signature instead")
    if not allow_private:
        check_public_host(parts.hostname, resolve=False)
    return url


def check_public_host(host: str, resolve: bool) -> None:
    """Refuse private, loopback, link-local and other non-public destinations."""
    try:
        addresses = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        if not resolve:
            if host.lower() in ("localhost",) or host.lower().endswith(".localhost"):
                raise InvalidInput("webhook URLs must point to a public address") from None
            return
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            raise outbox.Retry(f"cannot resolve {host}") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if any(not a.is_global or a.is_multicast for a in addresses):
        raise InvalidInput("webhook URLs must point to a public address")


def create_endpoint(pb: Postbox, org_ref: str, url: str, events: list[str],
                    description: str | None = None) -> tuple[EndpointView, str]:
    """Register an endpoint; returns it with its signing secret (shown this once)."""
    url = check_url(url, pb.settings.webhook_allow_private)
    chosen = _events(events)
    if description is not None:
        from postbox.validation import display_text
        description = display_text(description, "description", 200)
    secret = new_secret()
    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        count = len(list(uow.session.scalars(
            select(WebhookEndpoint.id).where(WebhookEndpoint.org_id == org.id))))
        if count >= MAX_ENDPOINTS_PER_ORG:
            raise InvalidInput(f"at most {MAX_ENDPOINTS_PER_ORG} endpoints per organisation")
        endpoint_id = new_id()
        row = WebhookEndpoint(id=endpoint_id, org_id=org.id, url=url, events=chosen,
                              description=description, created_at=pb.clock.now(),
                              secret_sealed=pb.keys.seal(SEAL_PURPOSE, endpoint_id,
                                                         secret.encode()))
        uow.session.add(row)
        uow.commit()
        return _view(row), secret


def _own(session: Session, org_id: str, endpoint_id: str) -> WebhookEndpoint:
    row = session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id,
                                                       WebhookEndpoint.org_id == org_id))
    if row is None:
        raise NotFound("no such webhook endpoint")
    return row


def list_endpoints(pb: Postbox, org_ref: str) -> list[EndpointView]:
    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        return [_view(r) for r in uow.session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.org_id == org.id)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id))]


@dataclass(frozen=True)
class Attempt:
    """One webhook message to one endpoint, as the outbox knows it."""

    event: str
    created_at: datetime
    attempts: int
    status: str  # pending, done or dead
    last_error: str | None


def recent_deliveries(pb: Postbox, org_ref: str, endpoint_id: str,
                      limit: int = 20) -> list[Attempt]:
    """The endpoint's latest messages, newest first, while the outbox still keeps them.

    Matches the endpoint id inside the job payload: fine while done jobs are pruned (a
    dedicated column and index would be needed for long histories)."""
    with pb.uow() as uow:
        s = uow.session
        _own(s, find_org(s, org_ref).id, endpoint_id)  # another org's endpoint: not found
        rows = s.scalars(select(Outbox).where(Outbox.kind == "webhook",
                                              Outbox.payload.contains(endpoint_id))
                         .order_by(Outbox.created_at.desc(), Outbox.id)
                         .limit(min(max(limit, 1), 100)))
        found = []
        for row in rows:
            payload = json.loads(row.payload)
            if payload.get("endpoint_id") == endpoint_id:
                found.append(Attempt(str(payload.get("type", "?")), row.created_at,
                                     row.attempts, row.status, row.last_error))
        return found


def get_endpoint(pb: Postbox, org_ref: str, endpoint_id: str) -> EndpointView:
    with pb.uow() as uow:
        return _view(_own(uow.session, find_org(uow.session, org_ref).id, endpoint_id))


def delete_endpoint(pb: Postbox, org_ref: str, endpoint_id: str) -> None:
    """Remove an endpoint; its pending deliveries end as ``done`` (nothing left to call)."""
    with pb.uow() as uow:
        uow.session.delete(_own(uow.session, find_org(uow.session, org_ref).id, endpoint_id))
        uow.commit()


def enable_endpoint(pb: Postbox, org_ref: str, endpoint_id: str) -> EndpointView:
    """Turn a disabled endpoint back on with a clean failure record."""
    with pb.uow() as uow:
        row = _own(uow.session, find_org(uow.session, org_ref).id, endpoint_id)
        row.enabled, row.disabled_at, row.disabled_reason = True, None, None
        row.failure_count, row.failing_since = 0, None
        uow.commit()
        return _view(row)


def rotate_secret(pb: Postbox, org_ref: str, endpoint_id: str) -> str:
    """A new signing secret, effective for the next delivery attempt; shown this once."""
    secret = new_secret()
    with pb.uow() as uow:
        row = _own(uow.session, find_org(uow.session, org_ref).id, endpoint_id)
        row.secret_sealed = pb.keys.seal(SEAL_PURPOSE, row.id, secret.encode())
        uow.commit()
    return secret


# -- events ------------------------------------------------------------------------------------

def emit(session: Session, org_id: str, event: str, data: dict[str, Any], at: datetime) -> int:
    """Queue ``event`` for every enabled endpoint of the org that wants it (caller's txn)."""
    if event not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event {event!r}")
    endpoints = [e for e in session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.org_id == org_id,
                                      WebhookEndpoint.enabled.is_(True)))
        if event in e.events.split(",")]
    if not endpoints:
        return 0
    msg_id = "msg_" + new_id()
    for endpoint in endpoints:
        outbox.enqueue(session, "webhook",
                       {"endpoint_id": endpoint.id, "msg_id": msg_id, "type": event,
                        "timestamp": utc_stamp(at), "data": data},
                       at=at, dedupe_key=f"webhook:{endpoint.id}:{msg_id}")
    return len(endpoints)


def emit_document_event(session: Session, event: str, org_id: str, recipient_id: str,
                        document_id: str, at: datetime, **extra: Any) -> int:
    """A document event, naming the recipient by the org's own external id."""
    external = session.scalar(
        select(RecipientLink.external_id).where(RecipientLink.org_id == org_id,
                                                RecipientLink.recipient_id == recipient_id)
        .order_by(RecipientLink.created_at).limit(1))
    data = {"document_id": document_id, "recipient": external, "occurred_at": utc_stamp(at),
            **extra}
    return emit(session, org_id, event, data, at)


def payload_body(job_payload: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and sent."""
    body = {"type": job_payload["type"], "timestamp": job_payload["timestamp"],
            "data": job_payload["data"]}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def record_failure(session: Session, endpoint_id: str, now: datetime,
                   disable_after: timedelta) -> bool:
    """Count a failed attempt; disable the endpoint after a long failing streak. True when
    this call disabled it (and queued the e-mail to the organisation's admins)."""
    row = session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
    if row is None:
        return False
    row.failure_count += 1
    row.failing_since = row.failing_since or now
    if (row.enabled and row.failure_count >= MIN_FAILURES_TO_DISABLE
            and now - row.failing_since >= disable_after):
        row.enabled, row.disabled_at = False, now
        row.disabled_reason = (f"no successful delivery since {utc_stamp(row.failing_since)} "
                               f"({row.failure_count} failed attempts)")
        outbox.enqueue(session, "org_alert", {"org_id": row.org_id, "endpoint_id": row.id},
                       at=now)
        return True
    return False


def record_success(session: Session, endpoint_id: str, now: datetime) -> None:
    row = session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
    if row is not None:
        row.failure_count, row.failing_since, row.last_success_at = 0, None, now
