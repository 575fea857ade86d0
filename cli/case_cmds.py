"""Cases and replies from the sender's side: the holds queue, release, cancel, replies pull."""
from __future__ import annotations

import io
import json
from pathlib import Path

import click

from cli.context import service
from postbox import cases, corrections, replies
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
@click.option("--server", envvar="POSTBOX_SERVER",
              help="Fetch through the API of this server (or POSTBOX_SERVER); decryption "
                   "stays on this machine.")
@click.option("--token", envvar="POSTBOX_TOKEN", help="API token for --server (or POSTBOX_TOKEN).")
def pull(key_file: Path, out: Path, no_ack: bool, server: str | None,
         token: str | None) -> None:
    """Fetch, decrypt locally and acknowledge new replies; writes one folder per reply and
    summary.json."""
    org_id, private = _load_key(key_file)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    if server:
        summary = _pull_remote(server, token or "", org_id, private, out, not no_ack)
    else:
        summary = _pull_local(org_id, private, out, not no_ack)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    click.echo(f"{len(summary)} new replies written to {out}")
    click.echo(str(len(summary)))


def _write(out: Path, reply_id: str, received_at: str,
           opened: replies.OpenedReply) -> dict[str, object]:
    """One reply's folder; its line in summary.json."""
    folder = out / reply_id
    folder.mkdir(exist_ok=True, mode=0o700)
    (folder / "message.txt").write_text(opened.text)
    for name, data in opened.attachments:
        (folder / name).write_bytes(data)
    return {"reply": reply_id, "kind": opened.kind, "in_reply_to": opened.in_reply_to,
            "case": opened.case_reference, "received_at": received_at,
            "attachments": [n for n, _ in opened.attachments]}


def _pull_local(org_id: str, private: bytes, out: Path, ack: bool) -> list[dict[str, object]]:
    pb = service()
    pending = replies.list_replies(pb, org_id)
    summary = []
    for item in pending:
        with replies.reply_blob(pb, org_id, item.reply_id) as blob:
            opened = replies.open_reply(blob, item.reply_id, org_id, private)
        summary.append(_write(out, item.reply_id, item.created_at.isoformat(), opened))
    if ack and pending:
        replies.acknowledge(pb, org_id, [i.reply_id for i in pending])
    return summary


def _pull_remote(server: str, token: str, org_id: str, private: bytes, out: Path,
                 ack: bool) -> list[dict[str, object]]:
    """Page by acknowledging: each round fetches the oldest unacknowledged replies."""
    from cli.apiclient import ApiClient

    summary: list[dict[str, object]] = []
    with ApiClient(server, token) as api:
        while True:
            page = api.request("GET", "/replies",
                               params={"limit": 1000 if ack else 100}).json()["replies"]
            for item in page:
                if item["org_id"] != org_id:
                    raise ConfigError(f"the key file is for organisation {org_id}, the token "
                                      f"for {item['org_id']}")
                sealed = api.request("GET", f"/replies/{item['id']}/content").content
                opened = replies.open_reply(io.BytesIO(sealed), item["id"], org_id, private)
                summary.append(_write(out, item["id"], _iso(item["created_at"]), opened))
            if not ack or not page:
                return summary
            done = api.request("POST", "/replies/ack", json={"ids": [i["id"] for i in page]})
            if not done.json()["acknowledged"]:  # nothing moved on: stop rather than loop
                return summary


def _iso(stamp: str) -> str:
    """The API's ``...Z`` as the local mode writes it (``+00:00``), so summaries match."""
    return stamp.removesuffix("Z") + "+00:00" if stamp.endswith("Z") else stamp



@click.group("correct")
def correct_group() -> None:
    """Correct a delivered document: the recipient keeps both versions and sees a banner."""


@correct_group.command("supersede")
@click.argument("old_id")
@click.argument("new_id")
@click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
@click.option("--by", "actor", required=True, help="Who corrects (recorded in evidence).")
def supersede(old_id: str, new_id: str, org_ref: str, actor: str) -> None:
    """Mark OLD_ID as replaced by NEW_ID (already delivered to the same recipient)."""
    corrections.supersede(service(), org_ref, old_id, new_id, actor)
    click.echo(f"{old_id} is superseded by {new_id}")
    click.echo(new_id)


@correct_group.command("retract")
@click.argument("document_id")
@click.option("--org", "org_ref", required=True, help="Organisation slug or id.")
@click.option("--reason", required=True, help="Why (recorded in evidence).")
@click.option("--by", "actor", required=True, help="Who retracts (recorded in evidence).")
def retract(document_id: str, org_ref: str, reason: str, actor: str) -> None:
    """Withdraw a document; it stays in the recipient's postbox, marked as withdrawn."""
    corrections.retract(service(), org_ref, document_id, reason, actor)
    click.echo(f"{document_id} is retracted")
    click.echo(document_id)


def register(group: click.Group) -> None:
    group.add_command(cases_group)
    group.add_command(replies_group)
    group.add_command(correct_group)
