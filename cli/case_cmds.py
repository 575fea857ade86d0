"""Cases and replies from the sender's side: the holds queue, release, cancel, replies pull."""
from __future__ import annotations

import json
from pathlib import Path

import click

from cli.context import service
from postbox import cases, replies
from postbox.errors import ConfigError


@click.group("cases")
def cases_group() -> None:
    """Cases on hold because a recipient replied: review, then release or cancel."""


@cases_group.command("list")
@click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
def list_held(org_ref: str) -> None:
    """Cases on hold, oldest first."""
    queue = cases.holds_queue(service(), org_ref)
    if not queue:
        click.echo("no case is on hold")
    for item in queue:
        click.echo(f"{item.reference}\ton hold since {item.hold_since:%Y-%m-%d %H:%M} UTC\t"
                   f"{item.held_items} held\t{item.replies} replies")


def _act(action: str) -> click.Command:
    @click.command(action)
    @click.argument("reference")
    @click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
    @click.option("--by", "actor", required=True, help="Who decides (recorded in evidence).")
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    def command(reference: str, org_ref: str, actor: str, yes: bool) -> None:
        if not yes:
            click.confirm(f"{action} the held items of case {reference}?", abort=True)
        done = getattr(cases, action)(service(), org_ref, reference, actor)
        click.echo(f"{action}d {len(done)} held item(s) of case {reference}")
        click.echo(str(len(done)))

    command.help = {"release": "Deliver the held items of a case, in order, exactly once.",
                    "cancel": "Discard the held items of a case."}[action]
    return command


cases_group.add_command(_act("release"))
cases_group.add_command(_act("cancel"))


@click.group("replies")
def replies_group() -> None:
    """Replies from recipients, sealed to your organisation's key."""


def _load_key(path: Path) -> tuple[str, bytes]:
    try:
        data = json.loads(path.read_text())
        return data["org_id"], bytes.fromhex(data["x25519_private"])
    except (OSError, ValueError, KeyError):
        raise ConfigError(f"{path} is not an organisation key file "
                          "(made by `postbox org keys init`)") from None


@replies_group.command("pull")
@click.option("--key", "key_file", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out", default="replies", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder to write into.")
@click.option("--no-ack", is_flag=True, help="Leave them unacknowledged (pull again later).")
def pull(key_file: Path, out: Path, no_ack: bool) -> None:
    """Fetch, decrypt locally and acknowledge new replies; writes one folder per reply and
    summary.json."""
    org_id, private = _load_key(key_file)
    pb = service()
    pending = replies.list_replies(pb, org_id)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    summary = []
    for item in pending:
        with replies.reply_blob(pb, org_id, item.reply_id) as blob:
            opened = replies.open_reply(blob, item.reply_id, org_id, private)
        folder = out / item.reply_id
        folder.mkdir(exist_ok=True, mode=0o700)
        (folder / "message.txt").write_text(opened.text)
        for name, data in opened.attachments:
            (folder / name).write_bytes(data)
        summary.append({"reply": item.reply_id, "kind": opened.kind,
                        "in_reply_to": opened.in_reply_to, "case": opened.case_reference,
                        "received_at": item.created_at.isoformat(),
                        "attachments": [n for n, _ in opened.attachments]})
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    if not no_ack and pending:
        replies.acknowledge(pb, org_id, [i.reply_id for i in pending])
    click.echo(f"{len(pending)} new replies written to {out}")
    click.echo(str(len(pending)))


def register(group: click.Group) -> None:
    group.add_command(cases_group)
    group.add_command(replies_group)
