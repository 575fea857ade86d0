"""Operations: storage integrity check, backup and restore of an embedded instance."""
from __future__ import annotations

from pathlib import Path

import click

from cli.context import service, settings
from postbox.backup import backup, restore
from postbox.integrity import check_storage
from postbox.retention import apply_retention


@click.group()
def storage() -> None:
    """Blob storage operations."""


@storage.command("check")
@click.option("--sample", type=click.IntRange(1), help="Check N random documents only.")
def check(sample: int | None) -> None:
    """Read blobs back; report missing, corrupt and orphan blobs. Exit 1 if any."""
    report = check_storage(service(), sample=sample)
    click.echo(f"checked {report.checked} documents")
    for label, items in (("missing", report.missing), ("corrupt", report.corrupt),
                         ("unreadable", report.unreadable), ("orphan blob", report.orphans)):
        for item in items:
            click.echo(f"{label}: {item}")
    if not report.ok:
        raise click.exceptions.Exit(1)
    click.echo("ok")


@click.command("backup")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def backup_cmd(out: Path) -> None:
    """Write a consistent snapshot (database, blobs, keys) of this instance to OUT (.tar.gz)."""
    if out.exists():
        raise click.BadParameter(f"{out} exists; choose a new file name", param_hint="OUT")
    report = backup(settings(), out)
    click.echo(f"{report.blobs} blobs, {report.bytes} bytes. The archive contains the key files: "
               "keep it as safe as the keys themselves.", err=True)
    click.echo(str(report.path))


@click.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def restore_cmd(archive: Path) -> None:
    """Restore a backup into this (empty) instance."""
    count = restore(settings(), archive)
    click.echo(f"restored {count} files into {settings().home}")


@click.command("retention")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1),
              help="At most this many documents per run.")
def retention(limit: int) -> None:
    """Purge documents past their organisation's retention period or past the 30-day undo
    window of a delete. Evidence is kept. Object-locked blobs are retried on a later run."""
    report = apply_retention(service(), limit=limit)
    click.echo(f"purged {len(report.purged)}, still under object lock {len(report.retained)}, "
               f"failed {len(report.failed)}")
    if report.failed:
        raise click.exceptions.Exit(1)


def register(group: click.Group) -> None:
    for command in (storage, backup_cmd, restore_cmd, retention):
        group.add_command(command)
