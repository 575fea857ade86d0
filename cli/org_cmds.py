"""Organisation commands: create, token."""
from __future__ import annotations

import json
from pathlib import Path

import click

from cli.context import service
from postbox import orgs, replies
from postbox.instance import write_secret_file
from postbox.models import ROLES


@click.group()
def org() -> None:
    """Manage sender organisations."""


@org.command("create")
@click.argument("name")
@click.option("--slug", help="Short name used in commands and URLs (default: from NAME).")
def create(name: str, slug: str | None) -> None:
    """Create an organisation; prints its slug."""
    view = orgs.create_org(service(), name, slug)
    click.echo(f"created organisation {view.name!r} (id {view.id})")
    click.echo(view.slug)


@org.command("token")
@click.argument("org_ref", metavar="ORG")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the token may do.")
@click.option("--label", help="A note to recognise the token by.")
def token(org_ref: str, role: str, label: str | None) -> None:
    """Create an API token for ORG (slug or id). Shown once: store it now."""
    value = orgs.create_token(service(), org_ref, role, label)
    click.echo(f"{role} token for {org_ref} (shown once, stored only as a hash):", err=True)
    click.echo(value)


@org.group("keys")
def org_keys() -> None:
    """The organisation's own reply key (the service never holds the private half)."""


@org_keys.command("init")
@click.argument("org_ref", metavar="ORG")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the private key (mode 0600). Keep it safe and backed up.")
def keys_init(org_ref: str, out: Path) -> None:
    """Create ORG's reply key pair: recipients' replies are sealed to it."""
    if out.exists():
        raise click.BadParameter(f"{out} exists; refusing to overwrite a key", param_hint="--out")
    pb = service()
    private = replies.init_org_keys(pb, org_ref)
    view = orgs.get_org(pb, org_ref)
    data = json.dumps({"format": "postbox-org-key/1", "org_id": view.id, "org": view.slug,
                       "x25519_private": private.hex()}).encode() + b"\n"
    if not write_secret_file(out, data):
        raise click.BadParameter(f"{out} exists; refusing to overwrite a key", param_hint="--out")
    click.echo("without this file nobody can read replies; back it up", err=True)
    click.echo(str(out))


def register(group: click.Group) -> None:
    group.add_command(org)
