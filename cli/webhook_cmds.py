"""Webhook commands: register endpoints, list them, and verify a delivery like a receiver."""
from __future__ import annotations

import time
from typing import BinaryIO

import click

from cli.context import service
from postbox import webhooks


@click.group("webhooks")
def webhooks_group() -> None:
    """Webhook endpoints (Standard Webhooks signatures)."""


@webhooks_group.command("add")
@click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
@click.option("--url", required=True, help="The receiver, https://...")
@click.option("--events", required=True,
              help=f"Comma-separated, of: {', '.join(webhooks.EVENT_TYPES)}.")
@click.option("--description", default=None)
def add(org_ref: str, url: str, events: str, description: str | None) -> None:
    """Register an endpoint; prints its id and then its signing secret (shown once)."""
    view, secret = webhooks.create_endpoint(service(), org_ref, url, events.split(","),
                                            description)
    click.echo(f"endpoint {view.id} for {', '.join(view.events)}")
    click.echo("signing secret (shown once; keep it with the receiver):")
    click.echo(secret)


@webhooks_group.command("list")
@click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
def list_(org_ref: str) -> None:
    """Endpoints with their state; a disabled one shows why."""
    for e in webhooks.list_endpoints(service(), org_ref):
        state = "enabled" if e.enabled else f"DISABLED ({e.disabled_reason})"
        click.echo(f"{e.id}\t{e.url}\t{','.join(e.events)}\t{state}\t"
                   f"{e.failure_count} failures in a row")


@webhooks_group.command("remove")
@click.option("--org", "org_ref", required=True)
@click.argument("endpoint_id")
def remove(org_ref: str, endpoint_id: str) -> None:
    webhooks.delete_endpoint(service(), org_ref, endpoint_id)
    click.echo(f"removed {endpoint_id}")


@webhooks_group.command("enable")
@click.option("--org", "org_ref", required=True)
@click.argument("endpoint_id")
def enable(org_ref: str, endpoint_id: str) -> None:
    """Turn a disabled endpoint back on (dead deliveries: `postbox worker --requeue`)."""
    webhooks.enable_endpoint(service(), org_ref, endpoint_id)
    click.echo(f"enabled {endpoint_id}")


@webhooks_group.command("rotate-secret")
@click.option("--org", "org_ref", required=True)
@click.argument("endpoint_id")
def rotate_secret(org_ref: str, endpoint_id: str) -> None:
    """A new signing secret, used from the next attempt on; printed once."""
    click.echo(webhooks.rotate_secret(service(), org_ref, endpoint_id))


@webhooks_group.command("verify")
@click.option("--secret", envvar="POSTBOX_WEBHOOK_SECRET", required=True,
              help="The endpoint's whsec_ secret (or POSTBOX_WEBHOOK_SECRET).")
@click.option("--id", "msg_id", required=True, help="The webhook-id header.")
@click.option("--timestamp", required=True, help="The webhook-timestamp header.")
@click.option("--signature", required=True, help="The webhook-signature header.")
@click.option("--tolerance", default=webhooks.TOLERANCE_S, show_default=True,
              help="Seconds the timestamp may differ from now.")
@click.argument("body", type=click.File("rb"), default="-")
def verify(secret: str, msg_id: str, timestamp: str, signature: str, tolerance: int,
           body: BinaryIO) -> None:
    """Check a received delivery (BODY: a file with the raw request body, or - for stdin)."""
    data = body.read()
    headers = {"webhook-id": msg_id, "webhook-timestamp": timestamp,
               "webhook-signature": signature}
    payload = webhooks.verify(secret, headers, data, time.time(), tolerance)
    click.echo(f"valid: {payload.get('type')} event {msg_id}")


def register(group: click.Group) -> None:
    group.add_command(webhooks_group)
