"""``postbox batch send|status|cancel``: batches through the sender API.

``send`` checks every manifest row first (and asks the server which recipients it knows) and
prints all errors with their line numbers before sending anything. Then it creates the batch
(idempotent: the same manifest resumes the same batch), skips rows the batch already holds,
uploads the rest, closes the batch (delivery) and writes the report. It exits 0 only if every
row was accepted (unreachable rows count as accepted only with ``--allow-unreachable``); if any
row failed, the batch stays open, so nothing is delivered until a re-run completes it.
"""
from __future__ import annotations

import csv
import itertools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from cli.apiclient import ApiClient
from cli.manifest import Manifest, RowError
from cli.uploader import Tally, progress_bar, settle, upload
from postbox.batches import spreadsheet_safe

REPORT_COLUMNS = ("line", "key", "recipient", "status", "reason", "document_id", "seq")


F = TypeVar("F", bound=Callable[..., Any])


def server_options(command: F) -> F:
    command = click.option("--token", envvar="POSTBOX_TOKEN", required=True,
                           help="API token (or POSTBOX_TOKEN).")(command)
    return click.option("--server", envvar="POSTBOX_SERVER", required=True,
                        help="Base URL, e.g. https://postbox.example.org (or POSTBOX_SERVER)."
                        )(command)


@click.group()
def batch() -> None:
    """Send a manifest of documents as one batch, and follow batches."""


@batch.command("send")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@server_options
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 64),
              help="Requests in flight at once.")
@click.option("--group-size", default=16, show_default=True, type=click.IntRange(1, 1000),
              help="Items per request.")
@click.option("--report", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write one CSV row per item here.")
@click.option("--batch-key", help="Resume this batch key (default: SHA-256 of the manifest).")
@click.option("--reference", help="A name for the batch (default: the manifest's file name).")
@click.option("--allow-unreachable", is_flag=True,
              help="Send rows for recipients without a postbox: they become 'unreachable', "
                   "for printing on paper.")
@click.option("--print-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write the print-ready PDF of every unreachable item here.")
@click.option("--no-close", is_flag=True, help="Upload only; leave the batch open.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a TTY).")
def send(manifest: Path, server: str, token: str, concurrency: int, group_size: int,
         report: Path | None, batch_key: str | None, reference: str | None,
         allow_unreachable: bool, print_dir: Path | None, no_close: bool,
         progress: bool | None) -> None:
    """Send every row of MANIFEST (CSV or JSON Lines) as one batch; prints the batch id."""
    console = Console(stderr=True, highlight=False)
    plan = Manifest(manifest, batch_key)
    summary = plan.check()
    with ApiClient(server, token, connections=concurrency + 2) as api:
        errors = list(summary.errors)
        if summary.recipients:
            known = api.reachability(list(summary.recipients))
            unknown = [(line, ext) for ext, state in known.items() if state == "unknown"
                       for line in summary.recipients[ext]]
            if unknown and not allow_unreachable:
                errors += [RowError(line, f"recipient {ext!r} has no postbox with your "
                                          "organisation (invite them, or --allow-unreachable "
                                          "to print on paper)") for line, ext in unknown]
        if errors:
            for error in sorted(errors, key=lambda e: e.line):
                click.echo(f"{manifest.name}: {error}", err=True)
            raise click.ClickException(f"{len(errors)} problem(s) in {manifest.name}; "
                                       "nothing was sent")
        created = api.create_batch(f"manifest-{plan.batch_key}", reference or manifest.name)
        batch_id = created["id"]
        click.echo(f"batch {batch_id} ({'resumed' if created['replayed'] else 'new'}), "
                   f"{summary.rows} rows, {summary.bytes / 1e6:.1f} MB", err=True)
        held = {i["key"] for i in api.items(batch_id) if i["status"] != "rejected"} \
            if created["replayed"] else set()
        todo = (r for r in plan.rows() if not isinstance(r, RowError) and r.key not in held)
        first = next(todo, None)
        if created["state"] != "open" and first is not None:
            raise click.ClickException(
                f"batch {batch_id} is {created['state']} but lacks rows of this manifest "
                f"(line {first.line} and maybe more); send them as a new batch (--batch-key)")
        bar = progress_bar(console, sys.stderr.isatty() if progress is None else progress)
        with bar:
            tally = upload(api, batch_id, itertools.chain([first] if first else [], todo),
                           total=max(0, summary.rows - len(held)), concurrency=concurrency,
                           group_size=group_size, progress=bar)
        _print_tally(tally, len(held))
        final = None
        if not tally.failed and not no_close:
            final = settle(api, batch_id, "close", console)
            click.echo(f"batch {batch_id}: {final['state']}", err=True)
            if final.get("held_summary"):  # waiting for a person, not failed
                click.echo(f"  {final['held_summary']}", err=True)
        if report is not None:
            _write_report(api, batch_id, tally, report)
        if print_dir is not None:
            _print_unreachable(api, batch_id, plan, print_dir)
        counts: dict[str, int] = (final or api.batch(batch_id))["counts"]  # type: ignore[assignment]
        unreachable = counts.get("unreachable", 0)
    if tally.failed:
        raise click.ClickException(f"{len(tally.failed)} row(s) were not accepted; the batch "
                                   "stays open: fix them and run the same command again")
    if unreachable and not allow_unreachable:
        raise click.ClickException(f"{unreachable} item(s) are unreachable")
    click.echo(batch_id)


def _print_tally(tally: Tally, skipped: int) -> None:
    click.echo(f"accepted {tally.accepted} (of which {tally.replayed} already there), "
               f"unreachable {len(tally.unreachable)}, failed {len(tally.failed)}, "
               f"skipped {skipped} already in the batch", err=True)
    for line, _key, who, why in sorted(tally.failed)[:50]:
        click.echo(f"  line {line} ({who}): {why}", err=True)
    if len(tally.failed) > 50:
        click.echo(f"  ... and {len(tally.failed) - 50} more (see --report)", err=True)
    if tally.stopped:
        click.echo(f"stopped: {tally.stopped}", err=True)


def _write_report(api: ApiClient, batch_id: str, tally: Tally, path: Path) -> None:
    """The server's view of every item (line = client_ref), then rows it never got."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(REPORT_COLUMNS)
        stored = set()
        for item in api.items(batch_id):
            stored.add(item["key"])
            out.writerow([spreadsheet_safe(item.get(c if c != "line" else "client_ref"))
                          for c in REPORT_COLUMNS])
        for line, key, who, why in tally.failed:
            if key not in stored:
                out.writerow([spreadsheet_safe(v) for v in (line, key, who, "not sent", why,
                                                            None, None)])
    click.echo(f"report written to {path}", err=True)


def _print_unreachable(api: ApiClient, batch_id: str, plan: Manifest, folder: Path) -> None:
    wanted = {i["key"]: i["seq"] for i in api.items(batch_id, status="unreachable")}
    if not wanted:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for row in plan.rows():
        if not isinstance(row, RowError) and row.key in wanted:
            out = folder / f"line-{row.line:06d}-{row.recipient}.pdf"
            api.print_item(batch_id, wanted[row.key], row.path, row.postal_address, out)
    click.echo(f"{len(wanted)} print-ready PDF(s) in {folder}", err=True)


@batch.command("status")
@click.argument("batch_id")
@server_options
def status(batch_id: str, server: str, token: str) -> None:
    """State and item counts of a batch; prints the state last."""
    with ApiClient(server, token) as api:
        info = api.batch(batch_id)
    click.echo(f"batch {info['id']} {info.get('reference') or ''}".rstrip())
    click.echo(f"  items {info['item_count']} (pending {info['pending']})")
    for name, count in sorted(info["counts"].items()):
        click.echo(f"  {name:<12}{count}")
    if info.get("held_summary"):
        click.echo(f"  {info['held_summary']}")
    click.echo(info["state"])


@batch.command("cancel")
@click.argument("batch_id")
@server_options
def cancel(batch_id: str, server: str, token: str) -> None:
    """Cancel a batch: nothing not yet consigned is delivered. Prints the state."""
    with ApiClient(server, token) as api:
        info = settle(api, batch_id, "cancel", Console(stderr=True))
    click.echo(info["state"])


def register(group: click.Group) -> None:
    group.add_command(batch)
