"""Headers, cookies, CSRF, IDOR, session handling, rate limits and error pages."""
from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import select

from postbox.models import VaultSession
from tests.web.helpers import PIN, login, post, send
from web import create_app

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _session_cookie(client):
    return client.get_cookie("__Host-postbox")


def test_strict_headers_on_pages(client) -> None:
    headers = client.get("/login").headers
    csp = headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'",
                      "img-src 'self' data:", "frame-ancestors 'none'", "form-action 'self'",
                      "base-uri 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"


def test_templates_hold_no_inline_script_or_style(client, pb, org, alice) -> None:
    doc, _ = send(pb, org, alice, "Letter")
    login(client, alice)
    for path in ("/login", "/activate", "/inbox", f"/messages/{doc}", "/settings", "/history"):
        html = client.get(path).get_data(as_text=True)
        assert "<script" not in html and "<style" not in html, path
        assert not re.search(r"\sstyle=", html), path
        assert not re.search(r"\son[a-z]+=", html), path


def test_session_cookie_flags(client, alice) -> None:
    response = login(client, alice)
    cookie = next(h for h in response.headers.getlist("Set-Cookie")
                  if h.startswith("__Host-postbox="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/" in cookie and "Domain" not in cookie


def test_secret_key_comes_from_the_master_key(app, pb) -> None:
    assert app.secret_key == pb.keys.seal_key("flask-session")
    assert create_app(pb).secret_key == app.secret_key  # every node agrees


def test_plain_http_is_said_at_startup(pb, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="postbox.web"):
        create_app(pb)
    assert "plain http" in caplog.text


@pytest.mark.parametrize("path", ["/login", "/logout", "/activate", "/activate/pin",
                                  "/activate/authenticator", "/settings/phrase",
                                  "/settings/email", "/settings/pin", "/settings/authenticator",
                                  "/settings/authenticator/confirm", "/settings/sessions/end",
                                  "/messages/" + "a" * 32 + "/archive",
                                  "/messages/" + "a" * 32 + "/delete"])
def test_post_without_csrf_token_is_refused(client, path) -> None:
    response = client.post(path, data={"identifier": "x", "pin": "1", "otp": "1"})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)


def test_csrf_refused_even_when_signed_in(client, pb, org, alice) -> None:
    doc, _ = send(pb, org, alice, "Keep me")
    login(client, alice)
    assert client.post(f"/messages/{doc}/delete").status_code == 400
    assert client.post(f"/messages/{doc}/delete",
                       data={"csrf_token": "forged"}).status_code == 400
    assert client.post("/logout").status_code == 400
    assert client.get("/inbox").status_code == 200  # still signed in, nothing deleted
    assert "Keep me" in client.get("/inbox").get_data(as_text=True)


def test_other_recipients_document_is_not_found(app, pb, org, alice, bob) -> None:
    doc, _ = send(pb, org, alice, "Alice only")
    client = app.test_client()
    login(client, bob)
    for path in (f"/messages/{doc}", f"/messages/{doc}/content",
                 f"/messages/{doc}/content?download=1"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Alice only" not in response.get_data(as_text=True)
    for action in ("archive", "unarchive", "delete", "restore"):
        assert post(client, f"/messages/{doc}/{action}", token_from="/inbox").status_code == 404


def test_login_starts_a_new_session(client, pb, alice) -> None:
    client.get("/login")
    before = _session_cookie(client).value
    login(client, alice)
    after = _session_cookie(client).value
    assert before != after
    with pb.uow() as uow:
        assert len(list(uow.session.scalars(select(VaultSession)))) == 1


def test_logout_destroys_the_server_side(client, pb, alice) -> None:
    login(client, alice)
    stolen = _session_cookie(client).value
    response = post(client, "/logout", token_from="/inbox")
    assert response.headers["Location"] == "/login"
    with pb.uow() as uow:
        row = uow.session.scalars(select(VaultSession)).one()
        assert row.revoked_at is not None and row.sealed_keys == b""
    client.set_cookie("__Host-postbox", stolen)  # a copy of the old cookie opens nothing
    assert client.get("/inbox").status_code == 302


def test_idle_timeout_ends_the_session(client, clock, alice) -> None:
    login(client, alice)
    clock.advance(minutes=11)
    response = client.get("/inbox")
    assert response.status_code == 302
    assert "Your session has ended" in client.get("/login").get_data(as_text=True)


def test_absolute_timeout_ends_the_session(client, clock, alice) -> None:
    login(client, alice)
    for _ in range(7):
        clock.advance(minutes=9)
        client.get("/inbox")
    assert client.get("/inbox").status_code == 302


def test_login_is_rate_limited(pb) -> None:
    app = create_app(pb, {"TESTING": True, "PORTAL_LOGIN_LIMIT": "3 per minute"})
    client = app.test_client()
    codes = [post(client, "/login", {"identifier": "who@example.org", "pin": "000000",
                                     "otp": "000000"}).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    assert "Too many attempts" in post(client, "/login", {}).get_data(as_text=True)
    assert client.get("/login").status_code == 200  # reading the page is not limited


def test_activation_is_rate_limited(pb) -> None:
    app = create_app(pb, {"TESTING": True, "PORTAL_ACTIVATION_LIMIT": "2 per minute"})
    client = app.test_client()
    codes = [post(client, "/activate", {"code": "AAAA-BBBB-CCCC-DDDD"},
                  token_from="/activate").status_code for _ in range(3)]
    assert codes == [401, 401, 429]


def test_rate_limits_are_per_app(pb) -> None:
    """Two apps in one process (tests, or web + api later) never share counters."""
    first = create_app(pb, {"TESTING": True, "PORTAL_LOGIN_LIMIT": "1 per minute"})
    second = create_app(pb, {"TESTING": True, "PORTAL_LOGIN_LIMIT": "1 per minute"})
    for app in (first, second):
        client = app.test_client()
        assert post(client, "/login", {"identifier": "x@example.org"}).status_code == 401


def test_unexpected_error_page_has_reference_and_no_traceback(pb, caplog) -> None:
    app = create_app(pb, {"TESTING": True})

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internal detail")

    with caplog.at_level(logging.ERROR, logger="postbox.web"):
        response = app.test_client().get("/boom")
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    ref = re.search(r"Reference: ([0-9A-F]{4}-[0-9A-F]{4})", html)
    assert ref, html
    assert "Traceback" not in html and "secret internal detail" not in html
    assert f"ref={ref.group(1)}" in caplog.text and "secret internal detail" in caplog.text
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_storage_outage_is_a_503_page(client, pb, org, alice, monkeypatch) -> None:
    from storage.errors import StorageError

    doc, _ = send(pb, org, alice, "Letter")
    login(client, alice)

    def down(key):
        raise StorageError("connection refused")

    monkeypatch.setattr(pb.store, "open", down)
    response = client.get(f"/messages/{doc}/content")
    assert response.status_code == 503
    assert "temporarily unavailable" in response.get_data(as_text=True)
    assert "connection refused" not in response.get_data(as_text=True)


def test_vault_token_never_appears_in_pages(client, pb, org, alice) -> None:
    doc, _ = send(pb, org, alice, "Letter")
    login(client, alice)
    with client.session_transaction() as session:
        token = session["_user_id"]
    session_id, session_key = token.split(".")
    for path in ("/inbox", f"/messages/{doc}", "/settings", "/history"):
        html = client.get(path).get_data(as_text=True)
        assert session_id not in html and session_key not in html and PIN not in html


def test_logging_in_again_ends_the_earlier_vault_session(client, pb, alice) -> None:
    login(client, alice)
    post(client, "/login", {"identifier": alice.email, "pin": PIN, "otp": alice.otp()},
         token_from="/inbox")
    with pb.uow() as uow:
        rows = uow.session.scalars(select(VaultSession).order_by(VaultSession.created_at))
        assert [r.revoked_at is not None for r in rows] == [True, False]
    assert client.get("/inbox").status_code == 200
