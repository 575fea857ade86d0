"""`postbox org user add`: invite a staff member to the organisation console."""
from __future__ import annotations

import click

from cli.context import service
from postbox import staff
from postbox.models import ROLES


@click.group("user")
def user() -> None:
    """Staff of the organisation console (/org)."""


@user.command("add")
@click.option("--org", "org_ref", required=True, help="The organisation (slug or id).")
@click.option("--email", required=True, help="The person's e-mail address.")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="admin: staff, tokens, settings; sender: batches, holds; "
                   "compliance: search and export.")
def add(org_ref: str, email: str, role: str) -> None:
    """Invite EMAIL as ROLE; prints a one-time link (then its code on the last line)."""
    pb = service()
    invitation = staff.invite(pb, org_ref, email, role, invited_by="cli")
    click.echo(f"invited {invitation.email} as {invitation.role}; the link works once, until "
               f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC. Give it to them privately:",
               err=True)
    click.echo(staff.invite_link(pb.settings, invitation.code))
    click.echo(invitation.code)


def register(group: click.Group) -> None:
    org = group.commands.get("org")
    if not isinstance(org, click.Group):
        raise TypeError("cli/org_cmds.py must register the `org` group first")
    org.add_command(user)
