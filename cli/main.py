"""Entry point of the ``postbox`` command: friendly one-line errors, exit 1 on failure, 2 on usage."""
from __future__ import annotations

import sys

import click

from postbox.config import load_settings
from postbox.errors import PostboxError
from postbox.instance import init_instance


class PostboxGroup(click.Group):
    """Turns domain errors into one line on stderr and exit code 1; tracebacks only with -v."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except PostboxError as exc:
            if ctx.meta.get("postbox.verbose"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)


@click.group(cls=PostboxGroup)
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Postbox: secure digital post with verifiable proof of delivery."""
    ctx.meta["postbox.verbose"] = verbose


@main.command()
def init() -> None:
    """Create the instance folder, database and key files (mode 0600)."""
    settings = load_settings()
    report = init_instance(settings)
    click.echo(f"instance ready at {report.home}")
    click.echo(str(report.home))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Run the web service (recipient portal, sender API, org console)."""
    click.echo("postbox serve: the web service is not yet built (see issue 4).")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
