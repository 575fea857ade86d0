"""Issue 8's dunning story end to end: the sender's automation speaks only through the API
(bearer token, live server on loopback, blobs on the loopback S3 server), notices go to a real
SMTP server, the recipient replies in the portal. Once she has replied, automated reminders
are held and nobody is told of them; the sender reads the reply with its own key, cancels the
held items, and the evidence says so."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from cli.main import main
from postbox import replies
from postbox.bootstrap import Postbox, build
from postbox.clock import FrozenClock
from postbox.db import make_engine
from postbox.instance import create_key_files
from postbox.worker import Worker
from tests.api.live import MAX_DOCUMENT, Live, live_api
from tests.fixtures.postbox import cheap_settings, pdf_bytes
from tests.fixtures.smtp import SmtpServer
from tests.web.helpers import activate_person, csrf_token, login

pytestmark = pytest.mark.s3
CASE = "INV-1001"
CLERK = "clerk@acme.example"


@pytest.fixture
def mailing(tmp_path: Path, db_url: str, s3_server, s3_bucket, monkeypatch,  # type: ignore[no-untyped-def]
            clock: FrozenClock, smtp_server: SmtpServer) -> Iterator[Live]:
    """The live API on a Postbox whose notices go to the loopback SMTP server."""
    for name, value in s3_server.env(s3_bucket).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POSTBOX_SMTP_URL", smtp_server.url)
    settings = cheap_settings(tmp_path / "inst", POSTBOX_DATABASE_URL=db_url,
                              POSTBOX_STORAGE_URL=s3_server.s3_url(s3_bucket),
                              POSTBOX_SMTP_URL=smtp_server.url,
                              POSTBOX_MAX_DOCUMENT_BYTES=str(MAX_DOCUMENT))
    create_key_files(settings)
    pb: Postbox = build(settings, clock=clock, engine=make_engine(db_url))
    try:
        with live_api(pb) as server:
            yield server
    finally:
        pb.close()


def automated(api: httpx.Client, subject: str) -> dict[str, str]:
    """What the sender's dunning system does: one automated letter in the case."""
    meta = {"recipient": "C-1", "subject": subject, "case": CASE, "automated": True}
    answer = api.post("/documents", headers={"Idempotency-Key": "dunning-" + subject.replace(" ", "-")},
                      files=[("metadata", (None, json.dumps(meta).encode(), "application/json")),
                             ("file", ("letter.pdf", pdf_bytes(subject), "application/pdf"))])
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def events(api: httpx.Client, document_id: str) -> list[str]:
    return [e["event"] for e in api.get(f"/documents/{document_id}").json()["evidence"]]


def test_dunning_story(mailing: Live, clock: FrozenClock, smtp_server: SmtpServer,
                       tmp_path: Path, monkeypatch) -> None:
    live = mailing
    private = replies.init_org_keys(live.pb, "acme")  # `postbox org keys init`, done earlier
    key = tmp_path / "org.key"
    key.write_text(json.dumps({"format": "postbox-org-key/1", "org_id": live.org_id,
                               "org": "acme", "x25519_private": private.hex()}))
    alice = activate_person(live.pb, clock, "acme", "C-1", "alice@example.org")
    worker = Worker(live.pb)
    try:
        with live.client() as api:
            # (1) the invoice and (2) the first reminder go out, each with a notice e-mail.
            invoice = automated(api, "Invoice 1001")
            worker.drain()
            clock.advance(days=14)
            reminder = automated(api, "Reminder 1")
            worker.drain()
            assert (invoice["status"], reminder["status"]) == ("consigned", "consigned")
            assert [m["To"] for m in smtp_server.messages] == ["alice@example.org"] * 2

            # (3) Alice replies in the portal: the case goes on hold.
            portal = live.app.test_client()
            assert login(portal, alice).status_code == 302
            path = f"/messages/{reminder['id']}/reply"
            sent = portal.post(path, data={"csrf_token": csrf_token(portal, path),
                                           "text": "Paid by card on 3 March."})
            assert sent.status_code == 302, sent.get_data(as_text=True)

            # (4) the next two reminders are held, and nobody is told of them.
            mails = len(smtp_server.messages)
            clock.advance(days=7)
            second = automated(api, "Reminder 2")
            worker.drain()
            clock.advance(days=7)
            collection = automated(api, "Collection notice")
            worker.drain()
            assert (second["status"], collection["status"]) == ("held", "held")
            assert len(smtp_server.messages) == mails
            [held] = api.get("/cases/held").json()["cases"]
            assert (held["reference"], held["held_items"], held["replies"]) == (CASE, 2, 1)

            # The sender reads the reply, decrypted on its side with its own key.
            monkeypatch.setenv("POSTBOX_SERVER", live.url)
            monkeypatch.setenv("POSTBOX_TOKEN", live.tokens["sender"])
            out = tmp_path / "replies"
            pulled = CliRunner().invoke(main, ["replies", "pull", "--key", str(key),
                                               "--out", str(out)], catch_exceptions=False)
            assert pulled.output.splitlines()[-1] == "1", pulled.output
            [summary] = json.loads((out / "summary.json").read_text())
            assert (summary["in_reply_to"], summary["case"]) == (reminder["id"], CASE)
            assert (out / summary["reply"] / "message.txt").read_text() \
                == "Paid by card on 3 March."
            assert api.get("/replies").json() == {"replies": []}  # acknowledged by the pull

            # (5) a person cancels the held items.
            cancelled = api.post(f"/cases/{CASE}/cancel", json={"by": CLERK})
            assert cancelled.json()["document_ids"] == [second["id"], collection["id"]]
            worker.drain()
            assert len(smtp_server.messages) == mails  # still nothing was sent about them

            # (6) the evidence tells the story.
            assert events(api, invoice["id"]) == ["submission_accepted", "consigned",
                                                  "notified"]
            assert events(api, reminder["id"]) == ["submission_accepted", "consigned",
                                                   "notified", "replied"]
            for held_id in (second["id"], collection["id"]):
                assert events(api, held_id) == ["submission_accepted", "held", "cancelled"]
                status = api.get(f"/documents/{held_id}").json()
                assert status["status"] == "cancelled" and status["case"] == CASE
            by = [e["body"] for e in api.get(f"/documents/{second['id']}").json()["evidence"]
                  if e["event"] == "cancelled"]
            assert f'"by":"{CLERK}"' in by[0]
    finally:
        worker.close()
