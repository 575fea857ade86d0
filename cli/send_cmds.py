"""Sending a document from the command line: on the local instance, or through the API."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import click

from cli.context import service
from postbox import delivery


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True,
                                        path_type=Path))
@click.option("--org", "org_ref", help="Sending organisation (slug or id), on this instance.")
@click.option("--server", envvar="POSTBOX_SERVER",
              help="Send through the API of this server instead (or POSTBOX_SERVER).")
@click.option("--token", envvar="POSTBOX_TOKEN", help="API token for --server (or POSTBOX_TOKEN).")
@click.option("--to", "external_id", required=True, help="Recipient's external id.")
@click.option("--subject", required=True, help="Subject shown in the recipient's inbox.")
@click.option("--case", help="Case reference, to group documents and hold automation.")
@click.option("--automated", is_flag=True, help="Mark as automated (reminders, dunning).")
@click.option("--due-date", type=click.DateTime(formats=["%Y-%m-%d"]), help="YYYY-MM-DD.")
@click.option("--filename", help="File name shown to the recipient (default: FILE's name).")
@click.option("--idempotency-key", help="Retry-safe key: the same key never delivers twice "
                                        "(with --server, default: derived from the content).")
def send(file: Path, org_ref: str | None, server: str | None, token: str | None,
         external_id: str, subject: str, case: str | None, automated: bool,
         due_date: datetime | None, filename: str | None, idempotency_key: str | None) -> None:
    """Deliver FILE (a PDF) to one recipient; prints the document id."""
    due = due_date.date() if due_date else None
    if server:
        receipt = _send_remote(file, server, token, external_id, subject, case, automated,
                               due.isoformat() if due else None, filename, idempotency_key)
        note = " (already delivered with this key)" if receipt["replayed"] else ""
        click.echo(f"{receipt['status']}{note}: sha256 {receipt['ciphertext_sha256']}")
        click.echo(receipt["id"])
        return
    if not org_ref:
        raise click.UsageError("give --org (this instance) or --server and --token (the API)")
    with file.open("rb") as fh:
        local = delivery.deliver(service(), org_ref, external_id, fh, subject,
                                 filename or file.name, case=case, automated=automated,
                                 due_date=due, idempotency_key=idempotency_key)
    note = " (already delivered with this key)" if local.replayed else ""
    click.echo(f"{local.status}{note}: sha256 {local.ciphertext_sha256}")
    click.echo(local.document_id)


def _send_remote(file: Path, server: str, token: str | None, external_id: str, subject: str,
                 case: str | None, automated: bool, due: str | None, filename: str | None,
                 key: str | None) -> dict[str, object]:
    from cli.apiclient import ApiClient

    meta: dict[str, object] = {"recipient": external_id, "subject": subject,
                               "automated": automated, "filename": filename or file.name}
    if case:
        meta["case"] = case
    if due:
        meta["due_date"] = due
    if key is None:  # the same file, recipient and fields: the same key, so a re-run is safe
        digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
        with file.open("rb") as fh:
            while piece := fh.read(1 << 20):
                digest.update(piece)
        key = "cli-" + digest.hexdigest()[:48]
    with ApiClient(server, token or "") as api:
        return api.send_document(file, meta, key)


def register(group: click.Group) -> None:
    group.add_command(send)
