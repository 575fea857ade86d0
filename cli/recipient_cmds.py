"""Recipient commands: invite."""
from __future__ import annotations

from pathlib import Path

import click

from cli.context import service
from postbox import orgs, recipients
from postbox.letters import invitation_letter


@click.group()
def recipient() -> None:
    """Invite recipients and check whether they can be reached."""


@recipient.command("invite")
@click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
@click.option("--external-id", required=True, help="Your id for this person (customer number).")
@click.option("--email", required=True, help="Where arrival notices go.")
@click.option("--letter", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Also write a printable invitation letter (PDF) here.")
def invite(org_ref: str, external_id: str, email: str, letter: Path | None) -> None:
    """Invite a person; prints the activation code (or links their existing postbox)."""
    pb = service()
    inv = recipients.invite_recipient(pb, org_ref, external_id, email)
    if inv.activation_code is None:
        click.echo(f"{email} already has a postbox; linked it as {external_id}. No code needed.")
        click.echo(inv.recipient_id)
        return
    if letter is not None:
        view = orgs.get_org(pb, org_ref)
        letter.write_bytes(invitation_letter(view.name, inv.email, external_id,
                                             inv.activation_code, pb.settings.public_url,
                                             pb.clock.now()))
        click.echo(f"letter written to {letter}")
    click.echo(f"invited {external_id}; activation code (send it by letter only):")
    click.echo(inv.activation_code)


@recipient.command("status")
@click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
@click.argument("external_ids", nargs=-1, required=True)
def status(org_ref: str, external_ids: tuple[str, ...]) -> None:
    """Reachability of recipients: active, invited or unknown."""
    for ext, state in recipients.reachability_many(service(), org_ref, list(external_ids)).items():
        click.echo(f"{ext}\t{state}")


def register(group: click.Group) -> None:
    group.add_command(recipient)
