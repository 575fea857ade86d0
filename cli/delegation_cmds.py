"""Delegation from the organisation's side, read-only: has a recipient an active delegate?

Recipients grant and revoke delegates themselves in the portal; an organisation can only ask
(no control). Who opened a document for a recipient is in the document's evidence.
"""
from __future__ import annotations

import click

from cli.context import service
from postbox import delegation


@click.group("delegation")
def delegation_group() -> None:
    """Powers of attorney (read-only for organisations)."""


@delegation_group.command("status")
@click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
@click.argument("external_id")
def status(org_ref: str, external_id: str) -> None:
    """Print whether EXTERNAL_ID has an active delegate covering your post (yes/no, last line)."""
    active = delegation.has_active_delegate(service(), org_ref, external_id)
    click.echo("yes" if active else "no")


def register(group: click.Group) -> None:
    group.add_command(delegation_group)
