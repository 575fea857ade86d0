"""`postbox witness`: cosign a Postbox evidence log's checkpoints, refusing forks loudly."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import httpx

from postbox.clock import SystemClock
from postbox.witness import LogMisbehaved, Witness, WitnessError, create_key, load_key


@click.group(invoke_without_command=True)
@click.option("--server", envvar="POSTBOX_SERVER", help="The Postbox service's base URL.")
@click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path),
              help="This witness's key file (from `postbox witness keygen`).")
@click.option("--state", type=click.Path(file_okay=False, path_type=Path),
              help="Folder keeping the last checkpoint this witness accepted.")
@click.option("--log-key", help="The log's verifier key (default: pinned on first contact).")
@click.option("--once", is_flag=True, help="One round, then exit.")
@click.option("--interval", default=10.0, show_default=True, type=click.FloatRange(1, 3600),
              help="Seconds between rounds.")
@click.pass_context
def witness(ctx: click.Context, server: str | None, key_file: Path | None, state: Path | None,
            log_key: str | None, once: bool, interval: float) -> None:
    """Watch a log: verify each new checkpoint extends the last one seen, cosign it, post
    the cosignature back. A fork or rewind is refused loudly with exit code 1."""
    if ctx.invoked_subcommand is not None:
        return
    missing = [name for name, value in (("--server", server), ("--key", key_file),
                                        ("--state", state)) if value is None]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)}")
    assert server and key_file and state  # checked above
    signer = load_key(key_file)
    with httpx.Client(base_url=server.rstrip("/"), timeout=15.0) as client:
        w = Witness(client, signer, state, SystemClock(), log_key)
        while True:
            try:
                click.echo(w.run_once().describe())
            except LogMisbehaved as exc:
                bar = "!" * 72
                click.echo(f"{bar}\n{exc}\n{bar}", err=True)
                sys.exit(1)
            except WitnessError as exc:
                if once:
                    raise
                click.echo(f"warning: {exc}", err=True)
            if once:
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                return


@witness.command("keygen")
@click.argument("name")
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False,
                                                                  path_type=Path))
def keygen(name: str, key_file: Path) -> None:
    """Create a witness key (0600); prints the verifier key for `postbox log add-witness`."""
    click.echo(create_key(key_file, name))


def register(group: click.Group) -> None:
    group.add_command(witness)
