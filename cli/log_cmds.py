"""`postbox log ...`: the evidence log on this instance (status, checkpoints, witnesses)."""
from __future__ import annotations

import click

from cli.context import service
from postbox import checkpoints, cosignatures, log, trust
from postbox.proofs.format import b64


@click.group("log")
def log_group() -> None:
    """The evidence log: sequencing, checkpoints, witnesses and the trust file."""


@log_group.command("status")
def status() -> None:
    """Tree size, newest checkpoint and its cosignatures."""
    pb = service()
    size, root = log.tree_size(pb)
    click.echo(f"origin {checkpoints.origin(pb)}")
    click.echo(f"tree size {size}, root {b64(root)}")
    latest = checkpoints.latest(pb)
    if latest is None:
        click.echo("no checkpoint yet")
        return
    click.echo(f"checkpoint size {latest.size} signed {latest.created_at:%Y-%m-%d %H:%M:%S} "
               f"UTC, cosigned by {', '.join(latest.witnesses) or 'no witness'}")


@log_group.command("checkpoint")
def checkpoint() -> None:
    """Sequence everything committed and sign a checkpoint now; prints the signed note."""
    click.echo(checkpoints.sign_checkpoint(service()).note.decode(), nl=False)


@log_group.command("add-witness")
@click.argument("verifier")
def add_witness(verifier: str) -> None:
    """Accept cosignatures from a witness (its verifier key, from `postbox witness keygen`)."""
    view = cosignatures.add_witness(service(), verifier)
    click.echo(f"witness {view.name} added")
    click.echo(view.id)


@log_group.command("remove-witness")
@click.argument("name")
def remove_witness(name: str) -> None:
    """Stop listing a witness (by name or verifier key) in the trust file."""
    cosignatures.remove_witness(service(), name)
    click.echo("removed")


@log_group.command("witnesses")
def list_witnesses() -> None:
    for w in checkpoints.witnesses(service()):
        click.echo(f"{w.name}\t{w.verifier}\tadded {w.added_at:%Y-%m-%d}")


@log_group.command("trust")
def trust_file() -> None:
    """Print the trust file (trust.json) verifiers need."""
    click.echo(trust.trust_document(service()).decode(), nl=False)


def register(group: click.Group) -> None:
    group.add_command(log_group)
