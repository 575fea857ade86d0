"""Escalation policies and the print queue: ``postbox policy ...`` and ``postbox print ...``.

Steps are written ``KIND:DAY`` separated by commas, e.g. ``notice:0,reminder:3,reminder:7,
print:14``. These commands work on the local instance (like ``postbox webhooks``).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import TextIO

import click

from cli.context import service
from postbox import escalation, escalation_dryrun, escalation_policy, print_queue
from postbox.escalation_policy import DEFAULT, Policy


def _steps(policy: Policy) -> str:
    return ",".join(f"{s.kind}:{s.day}" for s in policy.steps)


@click.group("policy")
def policy_group() -> None:
    """Unread escalation policies (notice, reminders, print)."""


@policy_group.command("set")
@click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
@click.option("--name", default=DEFAULT, show_default=True,
              help="'default' applies to every arrival; other names are per document.")
@click.argument("steps")
def set_(org_ref: str, name: str, steps: str) -> None:
    """Create or replace a policy, e.g. STEPS = notice:0,reminder:3,reminder:7,print:14."""
    parsed = escalation_policy.parse_spec(steps)
    policy = escalation_policy.set_policy(service(), org_ref, name,
                                          [s.as_json() for s in parsed])
    click.echo(f"policy {policy.name}: {_steps(policy)}")


@policy_group.command("show")
@click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
@click.option("--document", "document_id", default=None,
              help="Show where one document stands instead.")
def show(org_ref: str, document_id: str | None) -> None:
    """The organisation's policies, or one document's progress."""
    pb = service()
    if document_id is not None:
        p = escalation.progress(pb, org_ref, document_id)
        nxt = p.next_at.isoformat() if p.next_at else "-"
        click.echo(f"{p.document_id}\t{p.policy}\t{_steps(Policy(p.policy, p.steps))}\t"
                   f"{p.state}\tnext step {p.next_step} at {nxt}")
        return
    policies = escalation_policy.list_policies(pb, org_ref)
    if not policies:
        click.echo("no escalation policy (only the reminder policy applies)")
    for policy in policies:
        click.echo(f"{policy.name}\t{_steps(policy)}")


@policy_group.command("apply")
@click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
@click.option("--document", "document_id", required=True)
@click.option("--name", default=None, help="A named policy of the organisation.")
@click.option("--steps", default=None, help="Or explicit steps, KIND:DAY,...")
def apply(org_ref: str, document_id: str, name: str | None, steps: str | None) -> None:
    """Give one delivered, unread document its own policy (counted from its arrival)."""
    if (name is None) == (steps is None):
        raise click.UsageError("give --name or --steps")
    raw = [s.as_json() for s in escalation_policy.parse_spec(steps)] if steps else None
    p = escalation.set_for_document(service(), org_ref, document_id, name, raw)
    click.echo(f"{p.document_id}: next step at {p.next_at.isoformat() if p.next_at else '-'}")


@policy_group.command("dry-run")
@click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
@click.option("--batch", "batch_id", default=None, help="Count a batch's items as they are.")
@click.option("--recipients", "recipients_file", type=click.File("r"), default=None,
              help="Or a file of external ids, one a line (- for stdin).")
@click.option("--name", default=None, help="A named policy (default: 'default').")
@click.option("--steps", default=None, help="Or explicit steps to try, KIND:DAY,...")
def dry_run(org_ref: str, batch_id: str | None, recipients_file: TextIO | None,
            name: str | None, steps: str | None) -> None:
    """How many items each step would reach, given reachability and read state."""
    if (batch_id is None) == (recipients_file is None):
        raise click.UsageError("give --batch or --recipients")
    ids = None
    if recipients_file is not None:
        ids = [line.strip() for line in recipients_file if line.strip()]
    raw = [s.as_json() for s in escalation_policy.parse_spec(steps)] if steps else None
    run = escalation_dryrun.dry_run(service(), org_ref, batch=batch_id, external_ids=ids,
                                    policy=name, steps=raw)
    click.echo(f"policy {run.policy.name}: {_steps(run.policy)}")
    click.echo(f"items {run.items}, unreachable {run.unreachable}, read {run.read}, "
               f"paused {run.paused}, other {run.other}")
    click.echo("day\tkind\treach\tnotice_failed")
    for c in run.steps:
        click.echo(f"{c.day}\t{c.kind}\t{c.reach}\t{c.notice_failed}")


@click.group("print")
def print_group() -> None:
    """The print queue: unread letters a print step handed to you for paper."""


@print_group.command("queue")
@click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
@click.option("--state", type=click.Choice(["queued", "printed", "dismissed", "all"]),
              default="queued", show_default=True)
def queue(org_ref: str, state: str) -> None:
    """Entries, oldest first: id, document, recipient, step day, reason, state."""
    entries = print_queue.list_entries(service(), org_ref, None if state == "all" else state)
    for e in entries:
        click.echo(f"{e.id}\t{e.document_id}\t{e.recipient or '-'}\tday {e.step_day}\t"
                   f"{e.reason}\t{e.state}\t{'checkable' if e.printable else 'no-fingerprint'}")
    click.echo(f"{len(entries)} entries")


@print_group.command("pdf")
@click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
@click.option("--subject", required=True, help="The subject as delivered.")
@click.option("--filename", default=None, help="The file name as delivered (default: FILE's).")
@click.option("--address", default=None, help="Postal address, lines separated by \\n.")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              required=True)
@click.argument("entry_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def pdf(org_ref: str, subject: str, filename: str | None, address: str | None, out: Path,
        entry_id: str, file: Path) -> None:
    """Cover page + your archived copy FILE of a queued letter, checked against what was
    delivered; the last line is the output path."""
    text = address.replace("\\n", "\n") if address else None
    with file.open("rb") as stream:
        merged = print_queue.print_pdf(service(), org_ref, entry_id, stream, subject,
                                       filename or file.name, text)
    try:
        with out.open("wb") as target:
            shutil.copyfileobj(merged, target)
    finally:
        merged.close()
    click.echo(str(out))


@print_group.command("done")
@click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
@click.option("--by", required=True, help="Who printed and posted it.")
@click.argument("entry_id")
def done(org_ref: str, by: str, entry_id: str) -> None:
    """Mark an entry printed."""
    entry = print_queue.mark_printed(service(), org_ref, entry_id, by)
    click.echo(f"{entry.id} {entry.state}")


@print_group.command("dismiss")
@click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
@click.option("--by", required=True, help="Who decides.")
@click.option("--reason", required=True, help="Why it will not go on paper.")
@click.argument("entry_id")
def dismiss(org_ref: str, by: str, reason: str, entry_id: str) -> None:
    """Give up on paper for an entry (records notice_failed on the paper channel)."""
    entry = print_queue.dismiss(service(), org_ref, entry_id, by, reason)
    click.echo(f"{entry.id} {entry.state}")


def register(group: click.Group) -> None:
    group.add_command(policy_group)
    group.add_command(print_group)
