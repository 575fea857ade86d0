"""Operator commands: init, serve, demo."""
from __future__ import annotations

import time

import click

from cli.context import service, settings
from postbox.clock import SystemClock
from postbox.demo import ensure_demo
from postbox.instance import init_instance


@click.command()
def init() -> None:
    """Create the instance: database (by migration), master key and evidence key (mode 0600).

    Safe to run again; existing keys are never overwritten. Prints the instance folder.
    """
    s = settings()
    report = init_instance(s, SystemClock().now())
    if report.created_master_key:
        click.echo("created the master key (keep a backup: without it no PIN works)")
    if report.created_evidence_key:
        click.echo("created the evidence signing key")
    if report.created_log_key:
        click.echo("created the evidence log's checkpoint key")
    click.echo(f"database migrated: {s.database_url.split('@')[-1]}")
    click.echo(str(report.home))


@click.command()
@click.option("--code", "code_only", is_flag=True,
              help="Only print the demo recipient's current TOTP code.")
def demo(code_only: bool) -> None:
    """Set up demo data (an org, an activated recipient, three letters); print the login."""
    s = settings()
    init_instance(s, SystemClock().now())
    login = ensure_demo(service())
    code = login.current_code(time.time())
    if code_only:
        click.echo(code)
        return
    click.echo("demo data " + ("created" if login.created else "already present"))
    click.echo(f"  log in at   {s.public_url}/login")
    click.echo(f"  identifier  {login.identifier}")
    click.echo(f"  PIN         {login.pin}")
    click.echo(f"  TOTP secret {login.totp_secret}  (add it to an authenticator app)")
    click.echo(f"  code now    {code}  (or run: postbox demo --code)")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
def serve(host: str, port: int) -> None:
    """Run the web service: recipient portal, sender API and org console."""
    try:
        from web.serve import serve as run
    except ImportError:
        click.echo("postbox serve: the web service is not built yet.")
        return
    run(service(), host, port)


def register(group: click.Group) -> None:
    for command in (init, demo, serve):
        group.add_command(command)
