"""`postbox proofs export` (local instance) and `postbox proofs verify` (offline, anywhere)."""
from __future__ import annotations

import base64
import binascii
import os
from datetime import UTC, datetime
from pathlib import Path

import click

from postbox.proofs.verify import Report, verify_bundle

_TIMES = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S"]


@click.group()
def proofs() -> None:
    """Proof bundles: signed evidence, log proofs and keys in one zip anyone can check."""


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None else None


@proofs.command("export")
@click.option("--document", help="One document (id).")
@click.option("--batch", help="Every document of a batch (id).")
@click.option("--recipient", help="Every document of a recipient (with --org: its external id).")
@click.option("--since", type=click.DateTime(_TIMES), help="Period start, UTC (inclusive).")
@click.option("--until", type=click.DateTime(_TIMES), help="Period end, UTC (exclusive).")
@click.option("--org", help="Only this organisation's evidence (slug or id).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the bundle (zip).")
@click.option("--pdf", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the PDF certificate (after verifying the bundle).")
def export_cmd(document: str | None, batch: str | None, recipient: str | None,
               since: datetime | None, until: datetime | None, org: str | None, output: Path,
               pdf: Path | None) -> None:
    """Export a proof bundle from this instance; prints the bundle's path last."""
    from cli.context import service
    from postbox.proofs import export

    pb = service()
    selection = export.select_evidence(pb, document=document, batch=batch, recipient=recipient,
                                       since=_utc(since), until=_utc(until), org=org)
    partial = output.with_name(output.name + ".part")
    try:
        with open(partial, "wb") as fh:
            report = export.export_bundle(pb, selection, fh)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    witnesses = ", ".join(report.cosigned_by) or "no witness"
    click.echo(f"{report.evidence_count} evidences, checkpoint size {report.checkpoint_size}, "
               f"cosigned by {witnesses}")
    if not report.cosigned:
        click.echo(f"warning: the checkpoint needs {report.cosignatures_required} witness "
                   "cosignature(s) and has fewer yet; export again after the witness ran",
                   err=True)
    if pdf is not None:
        from postbox.proofs.certificate import render_certificate

        checked = verify_bundle(output)
        with open(pdf, "wb") as fh:
            render_certificate(output, fh, report=checked, issued=pb.clock.now())
        click.echo(f"certificate: {pdf}")
    click.echo(str(output))


def _salt(value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise click.BadParameter("the salt is base64", param_hint="--salt") from None


@proofs.command("verify")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--trust", "trust_file", type=click.Path(exists=True, dir_okay=False,
                                                       path_type=Path),
              help="Your own copy of the service's trust file (default: the bundle's).")
@click.option("--document", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Also check that this file is the content the evidence commits to.")
@click.option("--salt", help="The document's commitment salt (base64), if the bundle has none.")
@click.option("--jobs", type=click.IntRange(1, 64), help="Processes (default: one per core).")
def verify_cmd(bundle: Path, trust_file: Path | None, document: Path | None, salt: str | None,
               jobs: int | None) -> None:
    """Check a bundle offline: one line per check; exit 0 only if every check passes."""
    report: Report = verify_bundle(bundle, trust_file=trust_file, document=document,
                                   salt=_salt(salt), jobs=jobs)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        raise click.exceptions.Exit(1)


@proofs.command("certificate")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--trust", "trust_file", type=click.Path(exists=True, dir_okay=False,
                                                       path_type=Path))
def certificate_cmd(bundle: Path, output: Path, trust_file: Path | None) -> None:
    """Render the PDF certificate of a bundle (offline; the bundle is verified first)."""
    from postbox.proofs.certificate import render_certificate

    checked = verify_bundle(bundle, trust_file=trust_file)
    with open(output, "wb") as fh:
        render_certificate(bundle, fh, report=checked, issued=datetime.now(UTC))
    click.echo("all checks passed" if checked.ok else
               f"warning: the bundle failed {', '.join(checked.failed())}")
    click.echo(str(output))


def register(group: click.Group) -> None:
    group.add_command(proofs)
