"""`postbox keys rotate-signing`: a new evidence signing key; old evidence stays verifiable."""
from __future__ import annotations

from datetime import timedelta

import click

from cli.context import service
from postbox import trust
from postbox.proofs.format import stamp


@click.command("rotate-signing")
@click.option("--overlap", default=15, show_default=True, type=click.IntRange(0, 24 * 60),
              help="Minutes both keys count as valid around the switch (in-flight events).")
def rotate_signing(overlap: int) -> None:
    """Replace the evidence signing key. Safe to re-run after a crash.

    The old public key stays in the trust file with the end of its validity; its private key
    is destroyed. Restart web and worker processes within the overlap. Prints the new key id.
    """
    result = trust.rotate_signing_key(service(), timedelta(minutes=overlap))
    click.echo(f"retired evidence key {result.old_key_id}: valid until "
               f"{stamp(result.old_valid_until)}")
    click.echo(f"new evidence key {result.new_key_id}: valid from "
               f"{stamp(result.new_valid_from)}")
    click.echo("restart `postbox serve` and `postbox worker` processes; give verifiers the new "
               "trust file (GET /api/v1/log/trust)")
    click.echo(result.new_key_id)


def register(group: click.Group) -> None:
    keys = group.commands.get("keys")
    if not isinstance(keys, click.Group):
        keys = click.Group("keys", help="Rotate the service's keys.")
        group.add_command(keys)
    keys.add_command(rotate_signing)
