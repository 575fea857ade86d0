"""Organisation commands: create, token."""
from __future__ import annotations

import click

from cli.context import service
from postbox import orgs
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


def register(group: click.Group) -> None:
    group.add_command(org)
