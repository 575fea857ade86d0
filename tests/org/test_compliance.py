"""Compliance pages: search deliveries, a document's evidence timeline, the evidence log."""
from __future__ import annotations

import re

import pytest

from postbox import batches, checkpoints, log, orgs
from tests.org.helpers import deliver, login, mark

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _ids(html: str) -> list[str]:
    return re.findall(r'/org/compliance/documents/([0-9a-f]{32})"', html)


def test_search_by_each_criterion(client, pb, clock, org, officer) -> None:
    a = deliver(pb, org, "CUST-1", case="CASE-1")
    clock.advance(days=3)
    b = deliver(pb, org, "CUST-2")
    clock.advance(days=3)
    c = deliver(pb, org, "CUST-1")
    orgs.create_org(pb, "Other", "other")
    foreign = deliver(pb, "other", "CUST-1")
    login(client, officer)
    assert _ids(client.get("/org/compliance").get_data(as_text=True)) == [c, b, a]
    assert _ids(client.get("/org/compliance?external_id=CUST-1").get_data(as_text=True)) == [c, a]
    assert _ids(client.get(f"/org/compliance?document={b}").get_data(as_text=True)) == [b]
    assert _ids(client.get("/org/compliance?case=CASE-1").get_data(as_text=True)) == [a]
    day = (clock.now().date()).isoformat()
    assert _ids(client.get(f"/org/compliance?since={day}&until={day}").get_data(
        as_text=True)) == [c]
    assert _ids(client.get(f"/org/compliance?document={foreign}").get_data(as_text=True)) == []
    bad = client.get("/org/compliance?document=xyz")
    assert bad.status_code == 400 and "32 characters" in bad.get_data(as_text=True)
    bad = client.get("/org/compliance?since=2026-13-01")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.get_data(as_text=True)
    bad = client.get("/org/compliance?since=2026-12-01&until=2026-11-01")
    assert bad.status_code == 400


def test_search_by_batch(client, pb, org, officer) -> None:
    batch = batches.create_batch(pb, orgs.get_org(pb, org).id)
    login(client, officer)
    assert client.get(f"/org/compliance?batch={batch.id}").status_code == 200


def test_timeline(client, pb, clock, org, officer) -> None:
    doc = deliver(pb, org, "CUST-1", case="CASE-1")
    clock.advance(minutes=1)
    mark(pb, doc, notified=True)
    login(client, officer)
    page = client.get(f"/org/compliance/documents/{doc}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "CUST-1" in html and "CASE-1" in html
    events = re.findall(r'<li class="event event-(\w+)">', html)
    assert events == ["submission_accepted", "consigned", "notified"]
    assert len(re.findall(r"<code>[0-9a-f]{64}</code>", html)) >= 3  # ciphertext + records
    orgs.create_org(pb, "Other", "other")
    foreign = deliver(pb, "other", "CUST-9")
    assert client.get(f"/org/compliance/documents/{foreign}").status_code == 404


def test_evidence_log_page(client, pb, org, officer) -> None:
    login(client, officer)
    assert "No checkpoint has been signed yet" in client.get("/org/compliance/log").get_data(
        as_text=True)
    deliver(pb, org, "CUST-1")
    log.sequence_pending(pb)
    signed = checkpoints.sign_checkpoint(pb)
    html = client.get("/org/compliance/log").get_data(as_text=True)
    assert f'id="tree-size">{signed.size}<' in html
    assert "No witness is registered" in html and "— " in html  # the signed note's signature
