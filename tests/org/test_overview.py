"""The dashboard (funnel, counts, server-side SVG), the bounce list and the batch pages."""
from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import update

from postbox import batch_items, batch_settle, batches, cases, orgs
from postbox.models import Recipient
from tests.fixtures.postbox import pdf_bytes
from tests.org.helpers import csrf_token, deliver, login, mark

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _funnel_data(pb, clock, org) -> None:
    """12 days ago: 3 documents (2 notified, 1 read); today: 2 more (1 notified and read);
    40 days ago: 1 (outside the window); another organisation: 1 (never counted)."""
    clock.advance(days=-40)
    deliver(pb, org, "OLD-1")
    clock.advance(days=28)
    early = [deliver(pb, org, f"C-{n}") for n in range(3)]
    mark(pb, early[0], notified=True, read=True)
    mark(pb, early[1], notified=True)
    clock.advance(days=12)
    late = [deliver(pb, org, f"D-{n}") for n in range(2)]
    mark(pb, late[0], notified=True, read=True)
    orgs.create_org(pb, "Other", "other")
    deliver(pb, "other", "X-1")


def test_dashboard_page(client, pb, clock, org, sender) -> None:
    _funnel_data(pb, clock, org)
    deliver(pb, org, "C-0", case="CASE-7")
    cases.hold(pb, org, "CASE-7", "test")
    deliver(pb, org, "C-0", case="CASE-7", automated=True)  # held
    with pb.uow() as uow:
        uow.session.execute(update(Recipient).where(Recipient.email == "c-1@example.org")
                            .values(email_bouncing=True))
        uow.commit()
    login(client, sender)
    page = client.get("/org/dashboard")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    stages = dict(re.findall(r'data-stage="(\d)">([^<]+)<', html))
    assert [stages[str(n)].split(" ")[0] for n in range(4)] == ["6", "3", "2", "2"]
    assert re.search(r'id="held-count" href="/org/holds">1<', html)
    assert re.search(r'id="bounce-count" href="/org/bounces">1<', html)
    svg = re.search(r'<svg class="chart" id="funnel".*?</svg>', html, re.DOTALL).group(0)
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert svg.count('class="chart-bar chart-bar-') == 4
    assert "<script" not in html and "style=" not in html  # strict CSP, no JavaScript
    bounce_page = client.get("/org/bounces").get_data(as_text=True)
    assert "C-1" in bounce_page and "C-2" not in bounce_page


def test_held_count_is_plain_text_for_those_who_cannot_open_holds(client, org, officer) -> None:
    login(client, officer)
    html = client.get("/org/dashboard").get_data(as_text=True)
    assert '<span class="stat-value" id="held-count">0<' in html


def _batch(pb, org: str) -> tuple[str, bytes]:
    org_id = orgs.get_org(pb, org).id
    deliver(pb, org, "KNOWN-1")
    batch = batches.create_batch(pb, org_id, reference="November statements")
    letter = pdf_bytes("statement for someone we cannot reach")
    for key, recipient, data in [("k1", "KNOWN-1", pdf_bytes("statement")),
                                 ("k2", "NOBODY-9", letter)]:
        batch_items.add_item(pb, org_id, batch.id, batch_items.ItemInput(
            key=key, recipient=recipient, subject="Statement", filename="s.pdf"),
            io.BytesIO(data))
    batches.close_batch(pb, org_id, batch.id)
    batch_settle.settle(pb, batch.id)
    return batch.id, letter


def test_batch_pages(client, pb, org, sender) -> None:
    batch_id, letter = _batch(pb, org)
    login(client, sender)
    listing = client.get("/org/batches").get_data(as_text=True)
    assert "November statements" in listing and "<progress" in listing
    page = client.get(f"/org/batches/{batch_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "KNOWN-1" in html and "NOBODY-9" in html
    only = client.get(f"/org/batches/{batch_id}?status=unreachable").get_data(as_text=True)
    assert "NOBODY-9" in only and "KNOWN-1" not in only
    assert client.get(f"/org/batches/{batch_id}?status=bogus").status_code == 400
    report = client.get(f"/org/batches/{batch_id}/report.csv")
    assert report.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(report.get_data(as_text=True))))
    assert [(r["seq"], r["recipient"]) for r in rows] == [("1", "KNOWN-1"), ("2", "NOBODY-9")]
    assert rows[1]["status"] == "unreachable"
    token = csrf_token(client, f"/org/batches/{batch_id}")
    printed = client.post(f"/org/batches/{batch_id}/items/2/print", data={
        "csrf_token": token, "postal_address": "Nobody\nMain Street 1\n12345 Town",
        "file": (io.BytesIO(letter), "letter.pdf")}, content_type="multipart/form-data")
    assert printed.status_code == 200 and printed.data.startswith(b"%PDF")
    assert "attachment" in printed.headers["Content-Disposition"]
    wrong = client.post(f"/org/batches/{batch_id}/items/2/print", data={
        "csrf_token": token, "file": (io.BytesIO(pdf_bytes("another letter")), "x.pdf")},
        content_type="multipart/form-data")
    assert wrong.status_code == 409
    assert client.get(f"/org/batches/{'0' * 32}").status_code == 404


def test_other_organisations_batches_are_not_found(client, pb, clock, org, sender) -> None:
    orgs.create_org(pb, "Other", "other")
    foreign = batches.create_batch(pb, orgs.get_org(pb, "other").id, reference="Theirs")
    login(client, sender)
    assert client.get(f"/org/batches/{foreign.id}").status_code == 404
    assert client.get(f"/org/batches/{foreign.id}/report.csv").status_code == 404
    assert "Theirs" not in client.get("/org/batches").get_data(as_text=True)
