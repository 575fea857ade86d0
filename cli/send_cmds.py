"""Sending a document from the command line (on the local instance)."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from cli.context import service
from postbox import delivery


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True,
                                        path_type=Path))
@click.option("--org", "org_ref", required=True, help="Sending organisation (slug or id).")
@click.option("--to", "external_id", required=True, help="Recipient's external id.")
@click.option("--subject", required=True, help="Subject shown in the recipient's inbox.")
@click.option("--case", help="Case reference, to group documents and hold automation.")
@click.option("--automated", is_flag=True, help="Mark as automated (reminders, dunning).")
@click.option("--due-date", type=click.DateTime(formats=["%Y-%m-%d"]), help="YYYY-MM-DD.")
@click.option("--filename", help="File name shown to the recipient (default: FILE's name).")
@click.option("--idempotency-key", help="Retry-safe key: the same key never delivers twice.")
def send(file: Path, org_ref: str, external_id: str, subject: str, case: str | None,
         automated: bool, due_date: datetime | None, filename: str | None,
         idempotency_key: str | None) -> None:
    """Deliver FILE (a PDF) to one recipient; prints the document id."""
    with file.open("rb") as fh:
        receipt = delivery.deliver(service(), org_ref, external_id, fh, subject,
                                   filename or file.name, case=case, automated=automated,
                                   due_date=due_date.date() if due_date else None,
                                   idempotency_key=idempotency_key)
    note = " (already delivered with this key)" if receipt.replayed else ""
    click.echo(f"{receipt.status}{note}: sha256 {receipt.ciphertext_sha256}")
    click.echo(receipt.document_id)


def register(group: click.Group) -> None:
    group.add_command(send)
