"""Activation in four screens and login with PIN + TOTP, through the test client."""
from __future__ import annotations

import re

import pytest

from crypto.totp import code_at
from postbox import recipients
from tests.web.helpers import PIN, login, post

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

UNIFORM = "Those details do not match our records."


def _invite(pb, org, external_id="NEW-1", email="new@example.org") -> str:
    code = recipients.invite_recipient(pb, org, external_id, email).activation_code
    assert code is not None
    return code


def test_activation_flow(client, pb, clock, org) -> None:
    code = _invite(pb, org)
    step1 = post(client, "/activate", {"code": code.lower().replace("-", " ")},
                 token_from="/activate")
    assert step1.headers["Location"] == "/activate/pin"
    page = client.get("/activate/pin").get_data(as_text=True)
    assert "new@example.org" in page and 'name="pin"' in page and 'name="pin_confirm"' in page
    step2 = post(client, "/activate/pin", {"pin": PIN, "pin_confirm": PIN},
                 token_from="/activate/pin")
    assert step2.headers["Location"] == "/activate/authenticator"
    page = client.get("/activate/authenticator").get_data(as_text=True)
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', page).group(1)
    assert 'src="data:image/svg+xml;base64,' in page and 'name="otp"' in page
    assert PIN not in page and code not in page
    done = post(client, "/activate/authenticator",
                {"otp": code_at(secret, clock.now().timestamp())},
                token_from="/activate/authenticator")
    html = done.get_data(as_text=True)
    assert done.status_code == 200
    recovery = re.search(r'id="recovery-code">([A-Z0-9-]+)<', html).group(1)
    assert len(recovery) == 29 and "shown only once" in html
    assert recipients.reachability(pb, org, "NEW-1") == "active"
    # the recovery code is not kept: the draft is gone and the next step starts over
    assert client.get("/activate/authenticator").headers["Location"] == "/activate"
    with client.session_transaction() as session:
        assert recovery not in str(dict(session))
    clock.advance(seconds=30)
    ok = post(client, "/login", {"identifier": "new@example.org", "pin": PIN,
                                 "otp": code_at(secret, clock.now().timestamp())})
    assert ok.headers["Location"] == "/inbox"


def test_activation_state_is_sealed_in_the_cookie(client, pb, org) -> None:
    code = _invite(pb, org)
    post(client, "/activate", {"code": code}, token_from="/activate")
    post(client, "/activate/pin", {"pin": PIN, "pin_confirm": PIN}, token_from="/activate/pin")
    with client.session_transaction() as session:
        carried = str(dict(session))
    assert code not in carried and PIN not in carried


def test_wrong_activation_code(client, pb, org) -> None:
    _invite(pb, org)
    response = post(client, "/activate", {"code": "AAAA-BBBB-CCCC-DDDD"}, token_from="/activate")
    assert response.status_code == 401
    assert "activation code is not valid" in response.get_data(as_text=True)


def test_pin_rules_are_shown_translated(client, pb, org) -> None:
    post(client, "/activate", {"code": _invite(pb, org)}, token_from="/activate")
    mismatch = post(client, "/activate/pin", {"pin": PIN, "pin_confirm": "999999"},
                    token_from="/activate/pin")
    assert mismatch.status_code == 400
    assert "The two PINs do not match." in mismatch.get_data(as_text=True)
    weak = post(client, "/activate/pin", {"pin": "123456", "pin_confirm": "123456"},
                token_from="/activate/pin")
    assert "not a run" in weak.get_data(as_text=True)


def test_wrong_first_code_keeps_the_step(client, pb, org) -> None:
    post(client, "/activate", {"code": _invite(pb, org)}, token_from="/activate")
    post(client, "/activate/pin", {"pin": PIN, "pin_confirm": PIN}, token_from="/activate/pin")
    response = post(client, "/activate/authenticator", {"otp": "000000"},
                    token_from="/activate/authenticator")
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert "authenticator app is not valid" in html and 'id="totp-secret"' in html


def test_skipping_steps_restarts(client) -> None:
    assert client.get("/activate/pin").headers["Location"] == "/activate"
    assert client.get("/activate/authenticator").headers["Location"] == "/activate"


def test_stale_draft_restarts(client, pb, clock, org) -> None:
    post(client, "/activate", {"code": _invite(pb, org)}, token_from="/activate")
    clock.advance(minutes=31)
    assert client.get("/activate/pin").headers["Location"] == "/activate"


def test_login_errors_are_uniform(client, alice) -> None:
    attempts = {
        "wrong pin": {"identifier": alice.email, "pin": "999999", "otp": alice.otp()},
        "wrong otp": {"identifier": alice.email, "pin": PIN, "otp": "000000"},
        "unknown person": {"identifier": "nobody@example.org", "pin": PIN, "otp": alice.otp()},
        "malformed pin": {"identifier": alice.email, "pin": "12", "otp": alice.otp()},
        "empty": {},
    }
    bodies = set()
    for name, form in attempts.items():
        response = post(client, "/login", form)
        assert response.status_code == 401, name
        html = response.get_data(as_text=True)
        assert UNIFORM in html, name
        bodies.add(re.search(r'role="alert".*?</div>', html, re.DOTALL).group(0))
    assert len(bodies) == 1


def test_lockout_is_said_plainly(client, alice) -> None:
    for _ in range(4):
        assert post(client, "/login", {"identifier": alice.email, "pin": "999999",
                                       "otp": alice.otp()}).status_code == 401
    locked = post(client, "/login", {"identifier": alice.email, "pin": "999999",
                                     "otp": alice.otp()})
    assert locked.status_code == 423
    html = locked.get_data(as_text=True)
    assert "locked until" in html and "UTC" in html
    assert "PIN" not in re.search(r'role="alert".*?</div>', html, re.DOTALL).group(0)
    # even the right PIN and code are refused while locked, with the same lock message
    again = login(client, alice)
    assert again.status_code == 423


def test_unknown_identifiers_lock_the_same_way(client) -> None:
    statuses = [post(client, "/login", {"identifier": "ghost@example.org", "pin": "999999",
                                        "otp": "000000"}).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 423]


def test_logout_then_back_shows_nothing(client, pb, org, alice) -> None:
    from tests.web.helpers import send

    doc, _ = send(pb, org, alice, "Private matter")
    login(client, alice)
    assert "Private matter" in client.get(f"/messages/{doc}").get_data(as_text=True)
    post(client, "/logout", token_from="/inbox")
    response = client.get(f"/messages/{doc}")
    assert response.status_code == 302
    assert "Private matter" not in client.get(response.headers["Location"]).get_data(
        as_text=True)
