"""The worker's side of webhooks: POST a signed event, and tell an org its endpoint is off.

Each attempt signs afresh (the timestamp is the attempt's own, so receivers may reject stale
replays) with the same ``webhook-id``. Redirects are not followed, the body of the answer is
not read, and every call has connect and read timeouts.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from postbox import outbox
from postbox.errors import InvalidInput
from postbox.mail import PermanentMailError, TemporaryMailError
from postbox.models import Organisation, StaffUser, WebhookEndpoint
from postbox.webhooks import (
    SEAL_PURPOSE,
    check_public_host,
    payload_body,
    record_failure,
    record_success,
    sign,
)

log = logging.getLogger("postbox.webhooks")
USER_AGENT = "Postbox-Webhooks/1"


def http_client(timeout_s: float) -> httpx.Client:
    """One client per worker: explicit timeouts, no redirects, no proxy from the environment."""
    return httpx.Client(timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
                        follow_redirects=False, trust_env=False,
                        headers={"user-agent": USER_AGENT})


def handle_delivery(ctx: outbox.Context, job: outbox.Job) -> None:
    pb, now = ctx.pb, ctx.pb.clock.now()
    p = job.payload
    with pb.uow() as uow:
        endpoint = uow.session.get(WebhookEndpoint, p["endpoint_id"])
        if endpoint is None:
            outbox.finish(pb, job, note="endpoint removed")
            return
        url, enabled, sealed = endpoint.url, endpoint.enabled, endpoint.secret_sealed
    if not enabled:
        raise outbox.Fail("endpoint disabled")
    if not pb.settings.webhook_allow_private:
        try:
            check_public_host(urlsplit(url).hostname or "", resolve=True)
        except InvalidInput as exc:
            raise outbox.Fail(str(exc)) from None
    secret = pb.keys.open(SEAL_PURPOSE, p["endpoint_id"], sealed).decode()
    body = payload_body(p)
    timestamp = int(now.timestamp())
    headers = {"content-type": "application/json", "webhook-id": p["msg_id"],
               "webhook-timestamp": str(timestamp),
               "webhook-signature": sign(secret, p["msg_id"], timestamp, body)}
    try:
        with ctx.http.stream("POST", url, content=body, headers=headers) as response:
            status = response.status_code
        error = None if 200 <= status < 300 else f"HTTP {status}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    if error is None:
        outbox.finish(pb, job, lambda s: record_success(s, p["endpoint_id"], now))
        return
    disable_after = timedelta(seconds=pb.settings.webhook_disable_after_s)

    def count_failure(session: Session) -> None:
        if record_failure(session, p["endpoint_id"], now, disable_after):
            log.warning("webhook endpoint %s disabled after repeated failures",
                        p["endpoint_id"])

    outcome = outbox.fail(pb, job, error, ctx.backoff, effects=count_failure)
    log.info("webhook %s to endpoint %s failed (%s): %s", p["msg_id"], p["endpoint_id"],
             error, outcome)


def handle_alert(ctx: outbox.Context, job: outbox.Job) -> None:
    """E-mail the organisation's admins that an endpoint was disabled."""
    pb = ctx.pb
    with pb.uow() as uow:
        s = uow.session
        endpoint = s.get(WebhookEndpoint, job.payload["endpoint_id"])
        org = s.get(Organisation, job.payload["org_id"])
        admins = list(s.scalars(select(StaffUser.email).where(
            StaffUser.org_id == job.payload["org_id"], StaffUser.role == "admin")
            .order_by(StaffUser.email)))
        if endpoint is None or org is None:
            outbox.finish(pb, job, note="endpoint or organisation gone")
            return
        url, reason, org_name = endpoint.url, endpoint.disabled_reason, org.name
    domain = pb.settings.mail_from.rsplit("@", 1)[-1].strip(" >")
    for n, address in enumerate(admins):
        msg = EmailMessage()
        msg["From"] = pb.settings.mail_from
        msg["To"] = address
        msg["Subject"] = "Postbox: a webhook endpoint was disabled"
        msg["Date"] = format_datetime(job.created_at)
        msg["Message-ID"] = f"<{job.id}.{n}.alert@{domain}>"
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(
            f"Deliveries to a webhook endpoint of {org_name} kept failing, so it was "
            f"disabled.\n\nEndpoint: {url}\nEndpoint id: {job.payload['endpoint_id']}\n"
            f"Reason: {reason}\n\nFix the receiver, then turn the endpoint on again with "
            f"`postbox webhooks enable` or POST /api/v1/webhooks/<id>/enable. Deliveries "
            f"that gave up are listed by `postbox worker --dead`.\n")
        try:
            ctx.mailer.send(msg)
        except TemporaryMailError as exc:
            raise outbox.Retry(str(exc)) from None
        except PermanentMailError as exc:
            log.warning("alert to an admin of %s refused: %s", org_name, exc)
    outbox.finish(pb, job, note=None if admins else "no admin to e-mail; endpoint flagged")
