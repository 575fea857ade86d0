"""Every portal route answers as it should, signed in and not."""
from __future__ import annotations

import pytest

from tests.web.helpers import login, post, send

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

PUBLIC_PAGES = ["/login", "/activate"]
PRIVATE_PAGES = ["/inbox", "/archive", "/deleted", "/history", "/settings"]


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_pages_render(client, path) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert 'name="csrf_token"' in response.get_data(as_text=True)


@pytest.mark.parametrize("path", PRIVATE_PAGES + ["/messages/" + "a" * 32,
                                                  "/messages/" + "a" * 32 + "/content",
                                                  "/settings/authenticator"])
def test_private_pages_send_strangers_to_login(client, path) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_root_goes_to_inbox(client) -> None:
    assert client.get("/").headers["Location"] == "/inbox"


def test_signed_in_pages_render(client, pb, org, alice) -> None:
    doc, _ = send(pb, org, alice, "Tax assessment 2026")
    assert login(client, alice).headers["Location"] == "/inbox"
    for path in PRIVATE_PAGES + [f"/messages/{doc}"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/login").headers["Location"] == "/inbox"  # already signed in


def test_login_follows_only_local_next(client, alice) -> None:
    ok = post(client, "/login?next=/history", {"identifier": alice.email, "pin": "482917",
                                               "otp": alice.otp()})
    assert ok.headers["Location"] == "/history"
    client.post("/logout", data={"csrf_token": _token(client)})
    evil = post(client, "/login?next=//evil.example/x", {"identifier": alice.email,
                                                         "pin": "482917", "otp": alice.otp()})
    assert evil.headers["Location"] == "/inbox"


def _token(client) -> str:
    from tests.web.helpers import csrf_token

    return csrf_token(client, "/settings")


def test_unknown_page_is_a_friendly_404(client) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Reference:" in response.get_data(as_text=True)


def test_wrong_method_is_405(client) -> None:
    assert client.get("/logout").status_code == 405


def test_static_css_is_served_and_cacheable(client) -> None:
    response = client.get("/static/postbox.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
