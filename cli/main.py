"""Entry point of the ``postbox`` command.

Errors are one line on stderr with exit code 1 (usage errors: 2, from click); a traceback only
with ``-v``. A command's result (an id, a token, a code) is printed alone on its last line.
"""
from __future__ import annotations

import logging
import sys
from typing import Any

import click

from postbox.errors import PostboxError


class PostboxGroup(click.Group):
    """Turns domain errors into one clear line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except PostboxError as exc:
            if ctx.meta.get("postbox.verbose"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except Exception as exc:  # noqa: BLE001 - the edge: never a traceback by default
            if ctx.meta.get("postbox.verbose"):
                raise
            click.echo(f"error: unexpected {type(exc).__name__}; run with -v for details",
                       err=True)
            ctx.exit(1)


@click.group(cls=PostboxGroup)
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Postbox: secure digital post with verifiable proof of delivery.

    Settings come from POSTBOX_* environment variables; with none set, everything lives in
    ./instance (or $POSTBOX_HOME). Start with `postbox init`, or `postbox demo` for sample data.
    """
    ctx.meta["postbox.verbose"] = verbose
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def _register() -> None:
    """Every ``cli/*_cmds.py`` module adds its commands through ``register(group)``."""
    import importlib
    import pkgutil

    import cli

    for info in sorted(pkgutil.iter_modules(cli.__path__), key=lambda i: i.name):
        if info.name.endswith("_cmds"):
            importlib.import_module(f"cli.{info.name}").register(main)


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
