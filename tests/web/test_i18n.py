"""English and German: chosen from Accept-Language, switchable, and complete catalogues."""
from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.web.helpers import login, post, send

WEB = Path(__file__).resolve().parents[2] / "web"
TRANSLATIONS = WEB / "translations"
DE_PO = TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.po"
DE_MO = TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.mo"
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@sqlite_only
def test_accept_language_picks_german(client) -> None:
    html = client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
                      ).get_data(as_text=True)
    assert '<html lang="de">' in html and "Bei Ihrem Postfach anmelden" in html
    assert 'hreflang="en"' in html  # the way back
    english = client.get("/login", headers={"Accept-Language": "fr, en;q=0.5"})
    assert "Log in to your postbox" in english.get_data(as_text=True)


@sqlite_only
def test_switch_is_remembered(client) -> None:
    response = client.get("/login?lang=de")
    assert "Bei Ihrem Postfach anmelden" in response.get_data(as_text=True)
    cookie = next(h for h in response.headers.getlist("Set-Cookie")
                  if h.startswith("__Host-postbox-lang="))
    assert "__Host-postbox-lang=de" in cookie and "HttpOnly" in cookie and "Secure" in cookie
    assert "Postfach aktivieren" in client.get("/activate").get_data(as_text=True)
    assert "Log in to your postbox" in client.get("/login?lang=en").get_data(as_text=True)
    assert "Log in to your postbox" in client.get("/login").get_data(as_text=True)
    assert "Log in to your postbox" in client.get("/login?lang=xx").get_data(as_text=True)


@sqlite_only
def test_switch_link_keeps_the_page(client, pb, org, alice) -> None:
    login(client, alice)
    html = client.get("/inbox?q=tax").get_data(as_text=True)
    assert 'href="/inbox?q=tax&amp;lang=de"' in html


@sqlite_only
def test_service_errors_and_dates_are_translated(client, pb, org, alice) -> None:
    client.get("/login?lang=de")
    failed = post(client, "/login", {"identifier": alice.email, "pin": "999999", "otp": "1"})
    html = failed.get_data(as_text=True)
    assert "stimmen nicht mit unseren Daten überein" in html
    assert "do not match" not in html
    doc, _ = send(pb, org, alice, "Brief")
    login(client, alice)
    assert "24.11.2026" in client.get(f"/messages/{doc}").get_data(as_text=True)
    assert "Ihr Posteingang" not in client.get("/inbox").get_data(as_text=True)
    assert "Posteingang" in client.get("/inbox").get_data(as_text=True)


@sqlite_only
def test_error_pages_are_translated(client) -> None:
    html = client.get("/nowhere?lang=de").get_data(as_text=True)
    assert "Wir konnten diese Seite nicht finden." in html and "Referenz:" in html


def test_german_catalogue_is_complete_and_compiled() -> None:
    with DE_PO.open("rb") as fh:
        po = read_po(fh, locale="de")
    with (TRANSLATIONS / "messages.pot").open("rb") as fh:
        pot = read_po(fh)
    wanted = {m.id for m in pot if m.id}
    have = {m.id: m for m in po if m.id}
    assert wanted <= set(have), f"not in de: {sorted(wanted - set(have))}"
    untranslated = [m.id for m in have.values() if not m.string or m.fuzzy]
    assert not untranslated, untranslated
    with DE_MO.open("rb") as fh:
        mo = read_mo(fh)
    compiled = {m.id: m.string for m in mo if m.id}
    assert compiled == {m.id: m.string for m in have.values()}, \
        "messages.mo is stale: run pybabel compile -d web/translations"


def test_template_catalogue_matches_the_sources() -> None:
    """Every gettext string in web/ is in messages.pot (so nothing shows untranslated)."""
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]  # as web/babel.cfg
    keywords = {**DEFAULT_KEYWORDS, "_l": None}
    found = {msg if isinstance(msg, str) else msg[0]
             for _file, _line, msg, _comments, _context
             in extract_from_dir(str(WEB), method_map, keywords=keywords)}
    with (TRANSLATIONS / "messages.pot").open("rb") as kept:
        assert found == {m.id for m in read_po(kept) if m.id}, \
            "messages.pot is stale: see web/babel.cfg for the extract command"
