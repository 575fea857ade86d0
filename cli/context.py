"""The CLI's link to the composition root: builds the service once per command, lazily."""
from __future__ import annotations

import click

from postbox.bootstrap import Postbox, build
from postbox.config import Settings, load_settings


def settings() -> Settings:
    ctx = click.get_current_context()
    if "postbox.settings" not in ctx.meta:
        ctx.meta["postbox.settings"] = load_settings()
    return ctx.meta["postbox.settings"]  # type: ignore[no-any-return]


def service() -> Postbox:
    """The wired service for this invocation, closed when the command ends."""
    ctx = click.get_current_context()
    if "postbox.service" not in ctx.meta:
        pb = build(settings())
        ctx.meta["postbox.service"] = pb
        ctx.call_on_close(pb.close)
    return ctx.meta["postbox.service"]  # type: ignore[no-any-return]
