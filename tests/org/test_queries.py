"""The console's aggregate and search queries, on SQLite and PostgreSQL alike."""
from __future__ import annotations

from datetime import timedelta

import pytest

from postbox import dashboard, orgs, search
from postbox.errors import InvalidInput
from tests.org.helpers import deliver, mark


def test_funnel_and_daily_counts(pb, clock, org) -> None:
    clock.advance(days=-40)
    deliver(pb, org, "OLD-1")  # outside the window
    clock.advance(days=28)
    early = [deliver(pb, org, f"C-{n}") for n in range(3)]
    mark(pb, early[0], notified=True, read=True)
    mark(pb, early[1], notified=True)
    clock.advance(days=12)
    late = [deliver(pb, org, f"D-{n}") for n in range(2)]
    mark(pb, late[0], notified=True, read=True)
    orgs.create_org(pb, "Other", "other")
    deliver(pb, "other", "X-1")  # never counted
    view = dashboard.overview(pb, org)
    f = view.funnel
    assert (f.consigned, f.notified, f.retrieved, f.unread_after_7_days) == (5, 3, 2, 2)
    assert [n for _, n in view.daily][-13:] == [3] + [0] * 11 + [2]
    assert view.daily[-1][0] == clock.now().date()
    assert (view.bouncing, view.held_documents, view.held_cases) == (0, 0, 0)


def test_search_filters_and_pages(pb, clock, org) -> None:
    ids = []
    for n in range(5):
        ids.append(deliver(pb, org, "CUST-1" if n % 2 else "CUST-2", case="K-1" if n < 2
                           else None))
        clock.advance(days=1)
    org_id = orgs.get_org(pb, org).id
    everything = search.find(pb, org_id, search.DeliveryQuery(), per_page=2)
    assert [r.document_id for r in everything.rows] == ids[::-1][:2] and everything.has_more
    second = search.find(pb, org_id, search.DeliveryQuery(), page=3, per_page=2)
    assert [r.document_id for r in second.rows] == [ids[0]] and not second.has_more
    by_customer = search.find(pb, org_id, search.DeliveryQuery(external_id="CUST-1"))
    assert {r.document_id for r in by_customer.rows} == {ids[1], ids[3]}
    by_case = search.find(pb, org_id, search.DeliveryQuery(case="K-1"))
    assert {r.case for r in by_case.rows} == {"K-1"} and len(by_case.rows) == 2
    day = (clock.now() - timedelta(days=3)).date()
    one_day = search.find(pb, org_id, search.DeliveryQuery(since=day, until=day))
    assert [r.document_id for r in one_day.rows] == [ids[2]]
    with pytest.raises(InvalidInput):
        search.find(pb, org_id, search.DeliveryQuery(document_id="../etc"))
