"""Job commands: the worker, its dead letters and health, and reminder policies."""
from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path

import click

from cli.context import service
from postbox import checkpoints, outbox, reminders
from postbox.db import is_postgres
from postbox.worker import Worker

CHECK_MAX_AGE_S = 90
BEAT_EVERY_S = 5


def _beat_file(home: Path) -> Path:
    return home / "run" / f"worker-{socket.gethostname()}.beat"


def _days(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter("a comma-separated list of whole days, e.g. 3,7") from None


@click.command()
@click.option("--once", is_flag=True, help="Run the jobs that are due now, then exit.")
@click.option("--dead", "show_dead", is_flag=True, help="List dead letters (jobs that gave up).")
@click.option("--requeue", metavar="JOB_ID", help="Give a dead job fresh attempts.")
@click.option("--status", "show_status", is_flag=True, help="Count jobs per kind and status.")
@click.option("--check", is_flag=True,
              help="Health check: fail unless this host's worker ran in the last 90 s.")
@click.option("--idle", default=1.0, show_default=True, type=click.FloatRange(0.05, 60),
              help="Seconds to wait when nothing is due.")
@click.option("--batch", default=10, show_default=True, type=click.IntRange(1, 500),
              help="Jobs claimed at a time.")
def worker(once: bool, show_dead: bool, requeue: str | None, show_status: bool, check: bool,
           idle: float, batch: int) -> None:
    """Send notices, reminders and webhooks from the outbox until stopped (SIGTERM, Ctrl+C).

    Several workers may run against PostgreSQL; they never take the same job. With SQLite,
    `postbox serve` already runs one worker thread.
    """
    pb = service()
    if show_dead:
        rows = outbox.dead_letters(pb)
        for row in rows:
            click.echo(f"{row.id}\t{row.kind}\t{row.attempts} attempts\t"
                       f"{row.created_at:%Y-%m-%d %H:%M}\t{row.last_error or ''}")
        click.echo(f"{len(rows)} dead")
        return
    if requeue:
        click.echo(f"requeued {outbox.requeue(pb, requeue).kind} job")
        click.echo(requeue)
        return
    if show_status:
        for (kind, status), n in sorted(outbox.counts(pb).items()):
            click.echo(f"{kind}\t{status}\t{n}")
        oldest = outbox.oldest_due(pb)
        click.echo(f"oldest due job waiting since {oldest:%Y-%m-%d %H:%M:%S} UTC" if oldest
                   else "nothing due")
        return
    if check:
        outbox.oldest_due(pb)  # the database answers
        beat = _beat_file(pb.settings.home)
        if not beat.exists() or time.time() - beat.stat().st_mtime > CHECK_MAX_AGE_S:
            raise click.ClickException("no worker heartbeat on this host in the last 90 s")
        click.echo("ok")
        return
    runner = Worker(pb, batch=batch)
    try:
        if once:
            click.echo(f"{runner.drain()} jobs run")
            return
        if not is_postgres(pb.engine):
            click.echo("note: with SQLite, `postbox serve` runs a worker thread already",
                       err=True)
        _run(runner, pb.settings.home, idle)
    finally:
        runner.close()


def _run(runner: Worker, home: Path, idle: float) -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    beat = _beat_file(home)
    beat.parent.mkdir(parents=True, exist_ok=True)
    last = 0.0

    def tick() -> None:
        nonlocal last
        checkpoints.log_tick(runner.pb)  # sequence evidence; sign a checkpoint when due
        if time.monotonic() - last >= BEAT_EVERY_S:
            beat.touch()
            last = time.monotonic()

    click.echo(f"worker {runner.owner} running; mail: {runner.ctx.mailer.describe()}",
               err=True)
    runner.run_forever(stop, idle, tick)


@click.group("reminders")
def reminders_group() -> None:
    """Reminders for unread documents."""


@reminders_group.command("set")
@click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
@click.option("--after", default="", help="Days after arrival, e.g. 3,7 (empty: none).")
@click.option("--before-due", default="", help="Days before the due date, e.g. 2.")
def reminders_set(org_ref: str, after: str, before_due: str) -> None:
    """Set the organisation's default reminders (for documents consigned from now on)."""
    policy = reminders.set_policy(service(), org_ref, _days(after), _days(before_due))
    click.echo(f"after {','.join(map(str, policy.after_days)) or '-'} days; "
               f"before due {','.join(map(str, policy.before_due_days)) or '-'} days")


@reminders_group.command("show")
@click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
def reminders_show(org_ref: str) -> None:
    policy = reminders.get_policy(service(), org_ref)
    click.echo(f"after {','.join(map(str, policy.after_days)) or '-'} days; "
               f"before due {','.join(map(str, policy.before_due_days)) or '-'} days")


def register(group: click.Group) -> None:
    group.add_command(worker)
    group.add_command(reminders_group)
