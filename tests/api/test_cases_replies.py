"""Cases and replies through the API: the holds queue, hold/release/cancel with the acting
person, sealed replies listed, fetched, opened client side and acknowledged; other
organisations see "not found"; `postbox replies pull --server` writes what local mode writes."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from postbox import auth, delivery, replies
from tests.api.live import Live
from tests.fixtures.postbox import pdf_bytes
from tests.web.helpers import PIN, Person, activate_person

pytestmark = pytest.mark.s3


def send(live: Live, person: Person, subject: str, case: str = "INV-7",
         automated: bool = True) -> str:
    return delivery.deliver(live.pb, "acme", person.external_id, io.BytesIO(pdf_bytes(subject)),
                            subject, "letter.pdf", case=case, automated=automated).document_id


def answer(live: Live, person: Person, document_id: str, text: str,
           files: list[tuple[str, bytes]] | None = None) -> str:
    vault = auth.unlock(live.pb, auth.authenticate(live.pb, person.email, PIN,
                                                   person.otp()).token)
    return replies.reply(live.pb, vault, document_id, text, files).reply_id


@pytest.fixture
def story(live: Live, clock, tmp_path: Path) -> tuple[Person, Path]:  # type: ignore[no-untyped-def]
    private = replies.init_org_keys(live.pb, "acme")
    key = tmp_path / "org.key"
    key.write_text(json.dumps({"format": "postbox-org-key/1", "org_id": live.org_id,
                               "org": "acme", "x25519_private": private.hex()}))
    return activate_person(live.pb, clock, "acme", "C-1", "c1@example.org"), key


def test_replies_listed_fetched_opened_and_acknowledged(live: Live, story) -> None:
    person, key = story
    doc = send(live, person, "Invoice")
    receipt = pdf_bytes("card receipt")
    reply_id = answer(live, person, doc, "Paid by card.", [("receipt.pdf", receipt)])
    private = bytes.fromhex(json.loads(key.read_text())["x25519_private"])
    with live.client() as api:
        [item] = api.get("/replies").json()["replies"]
        assert item == {"id": reply_id, "org_id": live.org_id, "document_id": doc,
                        "case": "INV-7", "kind": "reply", "created_at": item["created_at"],
                        "ciphertext_sha256": item["ciphertext_sha256"]}
        sealed = api.get(f"/replies/{reply_id}/content")
        assert sealed.status_code == 200
        assert sealed.headers["content-type"] == "application/octet-stream"
        assert b"Paid by card" not in sealed.content and b"%PDF" not in sealed.content
        opened = replies.open_reply(io.BytesIO(sealed.content), reply_id, live.org_id, private)
        assert (opened.text, opened.attachments) == ("Paid by card.", [("receipt.pdf", receipt)])
        assert api.post("/replies/ack", json={"ids": [reply_id]}).json() == {"acknowledged": 1}
        assert api.post("/replies/ack", json={"ids": [reply_id]}).json() == {"acknowledged": 0}
        assert api.get("/replies").json() == {"replies": []}
        assert [r["id"] for r in api.get("/replies", params={"all": "1"}).json()["replies"]] \
            == [reply_id]
        for bad in ({"ids": ["nope"]}, {"ids": []}, {"ids": [reply_id], "x": 1}):
            assert api.post("/replies/ack", json=bad).status_code == 400
        assert api.get("/replies", params={"all": "yes"}).status_code == 400
    with live.client("compliance") as api:
        assert len(api.get("/replies", params={"all": "1"}).json()["replies"]) == 1
        assert api.get(f"/replies/{reply_id}/content").status_code == 403
        assert api.post("/replies/ack", json={"ids": [reply_id]}).status_code == 403
    with live.client(token=live.other_token) as other:
        assert other.get("/replies", params={"all": "1"}).json() == {"replies": []}
        missing = other.get(f"/replies/{reply_id}/content")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert other.post("/replies/ack", json={"ids": [reply_id]}).json() == {
            "acknowledged": 0}
    with live.client(token="") as anonymous:
        assert anonymous.get("/replies").status_code == 401


def test_holds_queue_release_and_cancel(live: Live, story, clock) -> None:
    person, _ = story
    first = send(live, person, "Invoice")
    answer(live, person, first, "I dispute this.")
    held = []
    for n in (1, 2):
        clock.advance(days=7)
        held.append(send(live, person, f"Reminder {n}"))
    with live.client() as api:
        [case] = api.get("/cases/held").json()["cases"]
        assert (case["reference"], case["held_items"], case["replies"]) == ("INV-7", 2, 1)
        assert api.post("/cases/INV-7/release", json={}).status_code == 400  # who decides?
        assert api.post("/cases/INV-7/release", json={"by": "  "}).status_code == 400
        assert api.post("/cases/INV-7/release", content=b"by=x").status_code == 415
        assert api.post("/cases/NOPE/release", json={"by": "ann"}).status_code == 404
        with live.client(token=live.other_token) as other:
            assert other.get("/cases/held").json() == {"cases": []}
            assert other.post("/cases/INV-7/cancel", json={"by": "eve"}).status_code == 404
        with live.client("compliance") as reader:
            assert len(reader.get("/cases/held").json()["cases"]) == 1
            assert reader.post("/cases/INV-7/release", json={"by": "c"}).status_code == 403
        released = api.post("/cases/INV-7/release", json={"by": "ann@acme.example"})
        assert released.json() == {"reference": "INV-7", "action": "release",
                                   "document_ids": held}
        assert api.post("/cases/INV-7/release", json={"by": "ann@acme.example"}).json()[
            "document_ids"] == []
        assert api.get("/cases/held").json() == {"cases": []}
        evidence = api.get(f"/documents/{held[0]}").json()["evidence"]
        assert [e["event"] for e in evidence] == ["submission_accepted", "held", "released",
                                                  "consigned"]
        assert '"by":"ann@acme.example"' in evidence[2]["body"]

        assert api.post("/cases/INV-7/hold", json={"by": "ann"}).json()["action"] == "hold"
        later = send(live, person, "Reminder 3")
        cancelled = api.post("/cases/INV-7/cancel", json={"by": "bob@acme.example"}).json()
        assert cancelled["document_ids"] == [later]
        assert api.get(f"/documents/{later}").json()["status"] == "cancelled"
        assert api.get("/cases/held").json()["cases"][0]["held_items"] == 0


def test_case_reference_with_a_slash(live: Live, story) -> None:
    person, _ = story
    doc = send(live, person, "Invoice", case="2026/INV-9")
    answer(live, person, doc, "Question about this.")
    held = send(live, person, "Reminder", case="2026/INV-9")
    with live.client() as api:
        done = api.post("/cases/2026%2FINV-9/cancel", json={"by": "ann"})
        assert done.json()["document_ids"] == [held], done.text


def test_pull_through_the_api_matches_local_pull(live: Live, story, tmp_path: Path,
                                                 monkeypatch) -> None:
    person, key = story
    doc = send(live, person, "Invoice")
    pdf = pdf_bytes("proof")
    first = answer(live, person, doc, "Paid by card.", [("proof.pdf", pdf)])
    second = answer(live, person, doc, "And again.")
    runner = CliRunner()
    remote = tmp_path / "remote"
    monkeypatch.setenv("POSTBOX_SERVER", live.url)
    monkeypatch.setenv("POSTBOX_TOKEN", live.tokens["sender"])
    result = runner.invoke(main, ["replies", "pull", "--key", str(key), "--out", str(remote)],
                           catch_exceptions=False)
    assert result.output.splitlines()[-1] == "2", result.output
    summary = json.loads((remote / "summary.json").read_text())
    assert [s["reply"] for s in summary] == [first, second]
    assert summary[0] == {"reply": first, "kind": "reply", "in_reply_to": doc, "case": "INV-7",
                          "received_at": summary[0]["received_at"],
                          "attachments": ["proof.pdf"]}
    assert (remote / first / "message.txt").read_text() == "Paid by card."
    assert (remote / first / "proof.pdf").read_bytes() == pdf
    again = runner.invoke(main, ["replies", "pull", "--key", str(key), "--out",
                                 str(tmp_path / "again")], catch_exceptions=False)
    assert again.output.splitlines()[-1] == "0"  # acknowledged by the first pull

    wrong = tmp_path / "wrong.key"
    wrong.write_text(json.dumps({"org_id": "0" * 32, "x25519_private": "00" * 32}))
    answer(live, person, doc, "Third.")
    refused = runner.invoke(main, ["replies", "pull", "--key", str(wrong), "--out",
                                   str(tmp_path / "w")])
    assert refused.exit_code == 1 and "key file is for organisation" in refused.output
    with live.client() as api:  # nothing was acknowledged by the refused pull
        assert len(api.get("/replies").json()["replies"]) == 1
