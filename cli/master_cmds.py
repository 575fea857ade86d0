"""`postbox keys rotate-master`: replace the service master key (the PIN pepper)."""
from __future__ import annotations

import click

from cli.context import service, settings
from postbox import rotation
from postbox.bootstrap import build


@click.command("rotate-master")
@click.option("--status", "show_status", is_flag=True, help="Only show what still waits.")
@click.option("--finish", "do_finish", is_flag=True,
              help="Delete retired keys that nothing needs any more.")
def rotate_master(show_status: bool, do_finish: bool) -> None:
    """Rotate the master key without re-encrypting any document. Safe to re-run after a crash.

    Sealed secrets move to the new key at once; PIN wraps at each owner's next login. The old
    key is kept (keys/master-retired-*.key) until `--finish` finds nothing needs it.
    """
    if do_finish:
        for name in rotation.finish(service()):
            click.echo(f"deleted {name}")
        click.echo("ok")
        return
    if not show_status:
        switched = rotation.complete_interrupted_switch(settings())
        old = service()
        resumed = rotation.reseal_all(old) if old.keys.retired_ids else 0
        if switched or resumed:  # an earlier run stopped part-way: finish that one
            click.echo(f"resumed an interrupted rotation: re-sealed {resumed} secrets")
            _show(rotation.status(old))
            click.echo(old.keys.pepper_id)
            return
        new_id = rotation.begin_rotation(settings(),
                                         lambda old_id: rotation.stamp_unmarked(old, old_id))
        old.close()
        pb = build(settings())
        try:
            click.echo(f"re-sealed {rotation.reseal_all(pb)} secrets under the new key")
            _show(rotation.status(pb))
        finally:
            pb.close()
        click.echo(new_id)
        return
    _show(rotation.status(service()))


def _show(report: rotation.RotationStatus) -> None:
    click.echo(f"current master key {report.current}")
    for pepper_id in report.retired:
        waiting = report.waiting.get(pepper_id, {})
        left = ", ".join(f"{n} {purpose}" for purpose, n in sorted(waiting.items())) or "nothing"
        click.echo(f"retired {pepper_id}: still protects {left}")


def register(group: click.Group) -> None:
    keys = group.commands.get("keys")
    if not isinstance(keys, click.Group):
        keys = click.Group("keys", help="Rotate the service's keys.")
        group.add_command(keys)
    keys.add_command(rotate_master)
