"""Settings (phrase, e-mail, PIN, authenticator, log out everywhere) and the access history."""
from __future__ import annotations

import re

import pytest

from crypto.totp import code_at
from postbox import auth
from tests.web.helpers import PIN, login, post, send

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_phrase_is_saved_and_shown_on_the_inbox(client, alice) -> None:
    login(client, alice)
    assert "Choose a phrase" in client.get("/inbox").get_data(as_text=True)
    response = post(client, "/settings/phrase", {"phrase": "blue kettle"}, token_from="/settings")
    assert response.headers["Location"] == "/settings"
    assert "blue kettle" in client.get("/inbox").get_data(as_text=True)
    assert 'value="blue kettle"' in client.get("/settings").get_data(as_text=True)
    post(client, "/settings/phrase", {"phrase": ""}, token_from="/settings")
    assert "blue kettle" not in client.get("/inbox").get_data(as_text=True)


def test_phrase_too_long_is_refused_in_place(client, alice) -> None:
    login(client, alice)
    response = post(client, "/settings/phrase", {"phrase": "x" * 65}, token_from="/settings")
    assert response.status_code == 400
    assert "at most 64 characters" in response.get_data(as_text=True)


def test_change_email_needs_a_code(client, alice) -> None:
    login(client, alice)
    bad = post(client, "/settings/email", {"email": "new@example.org", "otp": "000000"},
               token_from="/settings")
    assert bad.status_code == 401
    assert "alice@example.org" in bad.get_data(as_text=True)
    ok = post(client, "/settings/email", {"email": "New@Example.org", "otp": alice.otp()},
              token_from="/settings")
    assert ok.headers["Location"] == "/settings"
    assert "new@example.org" in client.get("/settings").get_data(as_text=True)


def test_change_email_refuses_bad_address(client, alice) -> None:
    login(client, alice)
    response = post(client, "/settings/email", {"email": "not-an-address", "otp": alice.otp()},
                    token_from="/settings")
    assert response.status_code == 400
    assert "not a valid e-mail address" in response.get_data(as_text=True)


def test_change_pin(client, pb, alice) -> None:
    login(client, alice)
    wrong = post(client, "/settings/pin", {"current_pin": "999999", "otp": alice.otp(),
                                           "new_pin": "739154", "new_pin_confirm": "739154"},
                 token_from="/settings")
    assert wrong.status_code == 401
    ok = post(client, "/settings/pin", {"current_pin": PIN, "otp": alice.otp(),
                                        "new_pin": "739154", "new_pin_confirm": "739154"},
              token_from="/settings")
    assert ok.headers["Location"] == "/settings"
    assert auth.authenticate(pb, alice.email, "739154", alice.otp()).recipient_id


def test_reenrol_authenticator(client, pb, clock, alice) -> None:
    login(client, alice)
    begun = post(client, "/settings/authenticator", token_from="/settings")
    assert begun.headers["Location"] == "/settings/authenticator"
    page = client.get("/settings/authenticator").get_data(as_text=True)
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', page).group(1)
    assert secret != alice.totp_secret
    clock.advance(seconds=30)
    bad = post(client, "/settings/authenticator/confirm",
               {"pin": "999999", "otp": code_at(secret, clock.now().timestamp())},
               token_from="/settings/authenticator")
    assert bad.status_code == 401 and 'id="totp-secret"' in bad.get_data(as_text=True)
    clock.advance(seconds=30)
    ok = post(client, "/settings/authenticator/confirm",
              {"pin": PIN, "otp": code_at(secret, clock.now().timestamp())},
              token_from="/settings/authenticator")
    assert ok.headers["Location"] == "/settings"
    clock.advance(seconds=30)
    alice.totp_secret = secret
    assert auth.authenticate(pb, alice.email, PIN, alice.otp()).recipient_id


def test_authenticator_page_without_enrolment_goes_back(client, alice) -> None:
    login(client, alice)
    assert client.get("/settings/authenticator").headers["Location"] == "/settings"


def test_logout_everywhere(app, pb, alice) -> None:
    phone, laptop = app.test_client(), app.test_client()
    login(phone, alice)
    login(laptop, alice)
    response = post(laptop, "/settings/sessions/end", token_from="/settings")
    assert response.headers["Location"] == "/login"
    assert phone.get("/inbox").status_code == 302
    assert laptop.get("/inbox").status_code == 302


def test_history_shows_when_and_which_login(client, pb, org, alice) -> None:
    login(client, alice)
    assert "None of your documents has been opened yet" in client.get("/history").get_data(
        as_text=True)
    doc, _ = send(pb, org, alice, "Opened letter")
    client.get(f"/messages/{doc}/content").get_data()
    html = client.get("/history").get_data(as_text=True)
    assert "Opened letter" in html and "Acme Bank" in html
    assert "this session" in html and "PIN and authenticator code" in html
    assert "Login at Nov 24, 2026" in html
