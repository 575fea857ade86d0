"""Settings (admins): API tokens and invitations shown once, staff removal, webhook endpoints,
the notice policy and retention (shortening asks first)."""
from __future__ import annotations

import re

import pytest

from crypto.totp import code_at
from postbox import org_settings, orgs, staff, staff_sessions, webhooks
from postbox.errors import SessionExpired
from tests.org.helpers import PASSWORD, csrf_token, deliver, login

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _post(client, path: str, data: dict, page: str):
    return client.post(path, data={"csrf_token": csrf_token(client, page), **data})


def test_tokens_are_shown_once_and_revocable(client, pb, org, admin) -> None:
    login(client, admin)
    page = _post(client, "/org/settings/tokens", {"label": "billing system", "role": "sender"},
                 "/org/settings/tokens")
    html = page.get_data(as_text=True)
    value = re.search(r'id="new-token">(pbx_[^<]+)<', html).group(1)
    identity = orgs.resolve_token(pb, value)
    assert identity is not None and identity.role == "sender"
    listing = client.get("/org/settings/tokens").get_data(as_text=True)
    assert "billing system" in listing and value not in listing
    assert _post(client, "/org/settings/tokens", {"role": "root"},
                 "/org/settings/tokens").status_code == 400
    token_id = re.search(r'/org/settings/tokens/([0-9a-f]{32})/revoke', listing).group(1)
    _post(client, f"/org/settings/tokens/{token_id}/revoke", {}, "/org/settings/tokens")
    assert orgs.resolve_token(pb, value) is None
    assert "revoked" in client.get("/org/settings/tokens").get_data(as_text=True)


def test_invite_join_and_remove_staff(client, pb, clock, org, admin) -> None:
    login(client, admin)
    page = _post(client, "/org/settings/staff", {"email": "sam@acme.example", "role": "sender"},
                 "/org/settings/staff")
    link = re.search(r'id="invite-link">([^<]+)<', page.get_data(as_text=True)).group(1)
    code = link.split("code=", 1)[1]
    assert link.startswith(pb.settings.public_url) and "/org/join?code=" in link
    listing = client.get("/org/settings/staff").get_data(as_text=True)
    assert "sam@acme.example" in listing and code not in listing
    start = staff.begin_join(pb, code)
    joined = staff.accept_invite(pb, code, PASSWORD, PASSWORD,
                                 code_at(start.totp_secret, clock.now().timestamp()))
    clock.advance(seconds=30)
    sam = staff_sessions.login(pb, "sam@acme.example", PASSWORD,
                               code_at(start.totp_secret, clock.now().timestamp())).token
    assert _post(client, f"/org/settings/staff/{joined.id}/remove", {},
                 "/org/settings/staff").status_code == 302
    with pytest.raises(SessionExpired):
        staff_sessions.resolve(pb, sam)
    assert _post(client, f"/org/settings/staff/{admin.staff_id}/remove", {},
                 "/org/settings/staff").status_code == 400
    bad = _post(client, "/org/settings/staff", {"email": "not an address", "role": "sender"},
                "/org/settings/staff")
    assert bad.status_code == 400 and "not a valid e-mail" in bad.get_data(as_text=True)
    _post(client, "/org/settings/staff", {"email": "late@acme.example", "role": "admin"},
          "/org/settings/staff")
    [invite] = staff.list_invites(pb, org)
    _post(client, f"/org/settings/invites/{invite.id}/revoke", {}, "/org/settings/staff")
    assert staff.list_invites(pb, org) == []


def test_webhook_endpoints(client, pb, org, admin) -> None:
    login(client, admin)
    page = client.post("/org/settings/webhooks", data={
        "csrf_token": csrf_token(client, "/org/settings/webhooks"),
        "url": "https://hooks.acme.example/postbox", "description": "ERP",
        "events": ["consigned", "retrieved"]})
    html = page.get_data(as_text=True)
    secret = re.search(r'id="new-secret">(whsec_[^<]+)<', html).group(1)
    [endpoint] = webhooks.list_endpoints(pb, org)
    assert endpoint.events == ("consigned", "retrieved")
    listing = client.get("/org/settings/webhooks").get_data(as_text=True)
    assert "https://hooks.acme.example/postbox" in listing and secret not in listing
    refused = _post(client, "/org/settings/webhooks", {"url": "https://localhost/x",
                                                       "events": "consigned"},
                    "/org/settings/webhooks")
    assert refused.status_code == 400 and "public address" in refused.get_data(as_text=True)
    _post(client, f"/org/settings/webhooks/{endpoint.id}/delete", {}, "/org/settings/webhooks")
    assert webhooks.list_endpoints(pb, org) == []


def test_notice_policy(client, pb, org, admin) -> None:
    login(client, admin)
    done = _post(client, "/org/settings/notices", {"show_sender": "yes", "after_days": "7, 3",
                                                   "before_due_days": "1"}, "/org/settings")
    assert done.status_code == 302
    current = org_settings.get(pb, org)
    assert current.notice_show_sender and current.remind_after_days == (3, 7)
    assert current.remind_before_due_days == (1,)
    html = client.get("/org/settings").get_data(as_text=True)
    assert 'value="3, 7"' in html and 'id="show-yes" name="show_sender" value="yes" checked' in html
    bad = _post(client, "/org/settings/notices", {"after_days": "three"}, "/org/settings")
    assert bad.status_code == 400 and "separated by commas" in bad.get_data(as_text=True)
    bad = _post(client, "/org/settings/notices", {"after_days": "1,2,3,4,5,6"}, "/org/settings")
    assert bad.status_code == 400
    assert org_settings.get(pb, org).remind_after_days == (3, 7)  # nothing half-saved


def test_retention_shortening_asks_first(client, pb, clock, org, admin) -> None:
    clock.advance(days=-100)
    deliver(pb, org, "CUST-1")
    clock.advance(days=100)
    login(client, admin)
    ask = _post(client, "/org/settings/retention", {"retention_days": "60"}, "/org/settings")
    assert ask.status_code == 200 and "at the next clean-up: 1" in ask.get_data(as_text=True)
    assert org_settings.get(pb, org).retention_days == 3650
    done = _post(client, "/org/settings/retention", {"retention_days": "60", "confirm": "yes"},
                 "/org/settings")
    assert done.status_code == 302 and org_settings.get(pb, org).retention_days == 60
    longer = _post(client, "/org/settings/retention", {"retention_days": "400"}, "/org/settings")
    assert longer.status_code == 302 and org_settings.get(pb, org).retention_days == 400
    for bad in ("5", "abc", "99999999"):
        response = _post(client, "/org/settings/retention", {"retention_days": bad},
                         "/org/settings")
        assert response.status_code == 400
