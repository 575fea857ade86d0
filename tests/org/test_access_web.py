"""Logging in, joining, logging out and the page standards (CSP, no-store, CSRF, languages)."""
from __future__ import annotations

import re

import pytest

from crypto.totp import code_at
from postbox import staff
from tests.org.helpers import PASSWORD, csrf_token, login, post

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

UNIFORM = "Those details do not match our records."


def test_login_page_and_headers(client) -> None:
    page = client.get("/org/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for name in ('name="email"', 'name="password"', 'name="otp"', 'name="csrf_token"'):
        assert name in html
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "<script" not in html and "style=" not in html


def test_login_logout_and_back(client, admin) -> None:
    assert client.get("/org/dashboard").headers["Location"].startswith("/org/login?next=")
    response = login(client, admin)
    assert response.status_code == 302 and response.headers["Location"] == "/org/dashboard"
    page = client.get("/org/dashboard")
    assert page.status_code == 200 and "ada@acme.example" in page.get_data(as_text=True)
    post(client, "/org/logout", token_from="/org/dashboard")
    again = client.get("/org/dashboard")
    assert again.status_code == 302 and "/org/login" in again.headers["Location"]


def test_login_returns_to_a_local_page_only(client, admin) -> None:
    form = {"email": admin.email, "password": PASSWORD, "otp": admin.otp()}
    response = post(client, "/org/login?next=/org/batches", form)
    assert response.headers["Location"] == "/org/batches"
    client.post("/org/logout", data={"csrf_token": csrf_token(client, "/org/dashboard")})
    form["otp"] = admin.otp()
    response = post(client, "/org/login?next=//evil.example/x", form)
    assert response.headers["Location"] == "/org/dashboard"


@pytest.mark.parametrize("wrong", ["email", "password", "otp"])
def test_login_errors_are_uniform(client, admin, wrong) -> None:
    form = {"email": admin.email, "password": PASSWORD, "otp": admin.otp()}
    form[wrong] = {"email": "nobody@acme.example", "password": "not the password",
                   "otp": "000000"}[wrong]
    response = post(client, "/org/login", form)
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert UNIFORM in html and 'role="alert"' in html
    assert f'value="{form["email"]}"' in html  # the address is kept, nothing else


def test_lockout_message(client, pb, admin) -> None:
    for _ in range(pb.settings.login_max_failures):
        response = login(client, admin, password="not the password")
    assert response.status_code == 423
    assert "locked until" in response.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(client, admin) -> None:
    response = client.post("/org/login", data={"email": admin.email, "password": PASSWORD,
                                                "otp": admin.otp()})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)


def test_session_ends_when_idle(client, pb, clock, admin) -> None:
    login(client, admin)
    clock.advance(seconds=pb.settings.session_idle_s + 1)
    response = client.get("/org/batches")
    assert response.status_code == 302 and "/org/login" in response.headers["Location"]
    assert "Your session has ended" in client.get(response.headers["Location"]).get_data(
        as_text=True)


def test_portal_and_console_sessions_do_not_mix(client, admin) -> None:
    login(client, admin)
    assert client.get("/inbox").status_code == 302  # staff are not recipients
    assert client.get("/org/dashboard").status_code == 200


def test_join_through_the_web(client, pb, clock, org) -> None:
    invitation = staff.invite(pb, org, "newbie@acme.example", "compliance", invited_by="ada")
    page = client.get(f"/org/join?code={invitation.code}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "newbie@acme.example" in html
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', html).group(1)
    bad = post(client, "/org/join", {"code": invitation.code, "step": "confirm",
                                     "password": PASSWORD, "password_confirm": PASSWORD,
                                     "otp": "000000"}, token_from="/org/login")
    assert bad.status_code == 401 and secret in bad.get_data(as_text=True)  # same secret
    short = post(client, "/org/join", {"code": invitation.code, "step": "confirm",
                                       "password": "short", "password_confirm": "short",
                                       "otp": code_at(secret, clock.now().timestamp())})
    assert short.status_code == 400 and "12 to 128 characters" in short.get_data(as_text=True)
    clock.advance(seconds=30)
    done = post(client, "/org/join", {"code": invitation.code, "step": "confirm",
                                      "password": PASSWORD, "password_confirm": PASSWORD,
                                      "otp": code_at(secret, clock.now().timestamp())})
    assert done.status_code == 302 and done.headers["Location"] == "/org/login"
    again = client.get(f"/org/join?code={invitation.code}")
    assert again.status_code == 401 and "not valid" in again.get_data(as_text=True)
    clock.advance(seconds=30)
    response = post(client, "/org/login", {"email": "newbie@acme.example", "password": PASSWORD,
                                           "otp": code_at(secret, clock.now().timestamp())})
    assert response.status_code == 302
    assert client.get("/org/compliance").status_code == 200


def test_join_by_typing_the_code(client, pb, org) -> None:
    invitation = staff.invite(pb, org, "typist@acme.example", "sender")
    assert 'name="code"' in client.get("/org/join").get_data(as_text=True)
    page = post(client, "/org/join", {"code": invitation.code.lower()})
    assert page.status_code == 200 and 'id="totp-secret"' in page.get_data(as_text=True)
    assert post(client, "/org/join", {"code": "WRONG-CODE"}).status_code == 401


def test_german(client, admin) -> None:
    page = client.get("/org/login?lang=de").get_data(as_text=True)
    assert 'lang="de"' in page and "Passwort" in page and "Anmelden" in page
    login(client, admin)
    page = client.get("/org/dashboard").get_data(as_text=True)
    assert "Zugestellt" in page or "Hinterlegt" in page
    assert "Abgerufen" in page


def test_forbidden_page_is_friendly(client, sender) -> None:
    login(client, sender)
    response = client.get("/org/settings")
    html = response.get_data(as_text=True)
    assert response.status_code == 403 and "Reference:" in html and "does not include" in html


def test_login_and_join_are_rate_limited(pb, admin) -> None:
    from web import create_app

    client = create_app(pb, {"TESTING": True, "ORG_LOGIN_LIMIT": "3 per minute"}).test_client()
    token = csrf_token(client)
    statuses = [client.post("/org/login", data={"csrf_token": token, "email": admin.email,
                                                 "password": "not the password", "otp": "1"}
                            ).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert client.post("/org/join", data={"csrf_token": token, "code": "X"}).status_code == 429
    assert client.get("/org/login").status_code == 200  # reading the page is not limited


def test_home_redirects(client, admin) -> None:
    assert client.get("/org/").headers["Location"] == "/org/login"
    login(client, admin)
    assert client.get("/org/").headers["Location"] == "/org/dashboard"
