"""OWASP ASVS 5.0 V7 (session management), V3.3 (cookies) and V3.5 (CSRF) through the real
Flask app: the portal's PIN + TOTP login, its cookies and its server-side vault sessions.

One test per requirement, named by id. Each asserts the requirement itself: what a browser
holding (or an attacker copying) the cookie can do afterwards, not only a configuration value.
Related tests elsewhere: tests/web/test_security.py (same behaviours, by feature) and
tests/org/test_access_web.py (the console's own login).
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from http.cookies import SimpleCookie

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from postbox.bootstrap import Postbox
from postbox.models import VaultSession
from tests.integration.postbox.conftest import Person
from tests.web.helpers import csrf_token, post, send
from web import create_app

from .conftest import PIN

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
SESSION_COOKIE = "__Host-postbox"
@pytest.fixture
def app(pb: Postbox) -> Iterator[Flask]:
    yield create_app(pb, {"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def login(client: FlaskClient, person: Person):  # type: ignore[no-untyped-def]
    response = post(client, "/login", {"identifier": person.email, "pin": PIN,
                                       "otp": person.otp()})
    assert response.status_code == 302 and response.headers["Location"] == "/inbox", \
        response.status_code
    return response


def _cookie(client: FlaskClient) -> str:
    found = client.get_cookie(SESSION_COOKIE)
    assert found is not None, "no session cookie"
    return found.value


def _set_cookies(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Every Set-Cookie header of a response, by cookie name (raw header text)."""
    found = {}
    for header in response.headers.getlist("Set-Cookie"):
        if _attributes(header).get("max-age") == "0":
            # A deletion (Flask-Login clears a remember cookie we never set): it stores
            # nothing, and a browser drops it whatever its attributes.
            continue
        found[header.split("=", 1)[0]] = header
    return found


def _attributes(header: str) -> dict[str, str]:
    parsed = SimpleCookie()
    parsed.load(header)
    (morsel,) = parsed.values()
    return {k.lower(): str(v) for k, v in morsel.items() if v}


def _every_cookie(client: FlaskClient, person: Person) -> dict[str, str]:
    """Every cookie the app sets on the way through: first visit, language switch, login."""
    seen: dict[str, str] = {}
    seen.update(_set_cookies(client.get("/login")))
    seen.update(_set_cookies(client.get("/login?lang=de")))
    seen.update(_set_cookies(client.get("/login?lang=en")))
    seen.update(_set_cookies(login(client, person)))
    seen.update(_set_cookies(client.get("/inbox")))
    assert SESSION_COOKIE in seen
    return seen


def _live_sessions(pb: Postbox) -> list[datetime]:
    """When each session that was not ended by logout expires (absolutely)."""
    with pb.uow() as uow:
        return list(uow.session.scalars(select(VaultSession.expires_at)
                                        .where(VaultSession.revoked_at.is_(None))))


# -- V7 Session management ----------------------------------------------------------------------

def test_asvs_7_2_4_new_session_at_login(client, pb, alice) -> None:
    """A new session token is generated at authentication and the pre-login one is dead: a
    fixated (attacker-planted) pre-login cookie is not signed in after the victim logs in."""
    client.get("/login")
    planted = _cookie(client)  # what an attacker could have planted before the login
    login(client, alice)
    after = _cookie(client)
    assert after != planted
    assert client.get("/inbox").status_code == 200
    attacker = client.application.test_client()
    attacker.set_cookie(SESSION_COOKIE, planted)
    assert attacker.get("/inbox").status_code == 302  # the planted cookie opens nothing
    # Logging in again mints yet another session and ends the earlier one server-side.
    post(client, "/login", {"identifier": alice.email, "pin": PIN, "otp": alice.otp()},
         token_from="/inbox")
    assert _cookie(client) not in (after, planted)
    stale = client.application.test_client()
    stale.set_cookie(SESSION_COOKIE, after)
    assert stale.get("/inbox").status_code == 302
    assert len(_live_sessions(pb)) == 1


def test_asvs_7_4_1_logout_invalidates_the_session(client, pb, alice) -> None:
    """Logout ends the session on the server: a copy of the cookie taken before logging out
    (stolen, or still in another tab) opens nothing afterwards, and the server-side half of
    the vault keys is destroyed, not just flagged."""
    login(client, alice)
    stolen = _cookie(client)
    thief = client.application.test_client()
    thief.set_cookie(SESSION_COOKIE, stolen)
    assert thief.get("/inbox").status_code == 200  # the copy works while the session lives
    response = post(client, "/logout", token_from="/inbox")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert thief.get("/inbox").status_code == 302
    assert client.get("/inbox").status_code == 302
    with pb.uow() as uow:
        (row,) = uow.session.scalars(select(VaultSession))
        assert row.revoked_at is not None and row.sealed_keys == b""


def test_asvs_7_3_1_inactivity_timeout(client, pb, clock, alice) -> None:
    """After ``session_idle_s`` (10 min) without a request the session needs a new login;
    activity before that keeps it alive. The idle timer moves in 30 s steps, so the timeout
    is between 9.5 and 10 min after the last request."""
    idle = pb.settings.session_idle_s
    assert idle == 600  # the documented decision (DESIGN.md "Unlock")
    login(client, alice)
    clock.advance(seconds=idle - 31)
    assert client.get("/inbox").status_code == 200  # still alive, and the timer moved on
    clock.advance(seconds=idle - 31)
    assert client.get("/inbox").status_code == 200
    copy = _cookie(client)
    clock.advance(seconds=idle)
    response = client.get("/inbox")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert "Your session has ended" in client.get("/login").get_data(as_text=True)
    # It is the server that ended it: a copy of the cookie is as dead in any browser.
    elsewhere = client.application.test_client()
    elsewhere.set_cookie(SESSION_COOKIE, copy)
    assert elsewhere.get("/inbox").status_code == 302


def test_asvs_7_3_2_absolute_session_lifetime(client, pb, clock, alice) -> None:
    """However active the browser, the session ends ``session_absolute_s`` (1 h) after the
    login and a new login is needed."""
    absolute = pb.settings.session_absolute_s
    assert absolute == 3600
    login(client, alice)
    elapsed = 0
    while elapsed + 300 < absolute:  # a request every 5 minutes: never idle
        clock.advance(seconds=300)
        elapsed += 300
        assert client.get("/inbox").status_code == 200, elapsed
    clock.advance(seconds=absolute - elapsed)
    assert client.get("/inbox").status_code == 302
    assert _live_sessions(pb)[0] <= clock.now()


# -- V3.3 Cookie setup ----------------------------------------------------------------------------

def test_asvs_3_3_1_cookies_are_secure_with_a_prefix(client, alice) -> None:
    """Every cookie has the Secure attribute, and a name with the __Host- or __Secure-
    prefix (so the browser itself enforces Secure)."""
    for name, header in _every_cookie(client, alice).items():
        assert "secure" in _attributes(header), header
        assert name.startswith(("__Host-", "__Secure-")), f"cookie {name} has no prefix"


def test_asvs_3_3_2_samesite_fits_each_cookie(client, alice) -> None:
    """The session cookie is SameSite=Strict (a post from another site never carries it);
    other cookies carry an explicit SameSite value too."""
    cookies = _every_cookie(client, alice)
    assert _attributes(cookies[SESSION_COOKIE])["samesite"] == "Strict"
    for header in cookies.values():
        assert _attributes(header).get("samesite") in ("Strict", "Lax"), header


def test_asvs_3_3_3_cookies_use_the_host_prefix(client, alice) -> None:
    """No cookie is meant for other hosts, so every cookie is __Host- (Secure, Path=/, no
    Domain): a sibling subdomain can neither read nor overwrite it."""
    for name, header in _every_cookie(client, alice).items():
        attributes = _attributes(header)
        assert name.startswith("__Host-"), f"cookie {name} lacks the __Host- prefix"
        assert attributes.get("path") == "/" and "domain" not in attributes, header


def test_asvs_3_3_4_session_cookie_is_httponly(client, alice) -> None:
    """The session token is out of reach of scripts (HttpOnly)."""
    cookies = _every_cookie(client, alice)
    assert "httponly" in _attributes(cookies[SESSION_COOKIE]), cookies[SESSION_COOKIE]


# -- V3.5 Browser origin separation ---------------------------------------------------------------

@pytest.mark.parametrize("action", ["delete", "archive"])
def test_asvs_3_5_1_csrf_token_required_for_every_change(client, pb, org, alice,
                                                          action) -> None:
    """A signed-in recipient's browser, tricked into posting without our form's token (or
    with a forged or another session's token), changes nothing."""
    doc, _ = send(pb, org, alice, "Keep me")
    other = client.application.test_client()
    foreign_token = csrf_token(other)  # valid, but for another browser's session
    login(client, alice)
    for form in ({}, {"csrf_token": "forged"}, {"csrf_token": foreign_token}):
        response = client.post(f"/messages/{doc}/{action}", data=form)
        assert response.status_code == 400, form
        assert "did not come from this site" in response.get_data(as_text=True)
    assert client.post("/logout").status_code == 400
    assert client.post("/settings/sessions/end").status_code == 400
    inbox = client.get("/inbox")
    assert inbox.status_code == 200 and "Keep me" in inbox.get_data(as_text=True)
    # The same request with this session's token works: the refusals were about the token.
    assert post(client, f"/messages/{doc}/{action}", token_from="/inbox").status_code == 302
    assert "Keep me" not in client.get("/inbox").get_data(as_text=True)
