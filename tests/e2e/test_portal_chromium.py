"""The recipient portal in real headless Chromium: activate with the letter code, log in with
PIN + TOTP, read the inbox, open a document, check its bytes, log out, and go Back.

The app runs on a real threaded werkzeug server on a free loopback port. Time is a FrozenClock
shared with the services, moved 30 s between TOTP codes (codes are single use), so nothing
sleeps. axe-core (``npm install --no-save axe-core@4``) checks the main pages; it is served to
the page from the same origin through a route, so the strict CSP stays on while it runs.
Screenshots land in tests/artifacts/ for a person to look at.
"""
from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from crypto.totp import code_at
from postbox import delivery, orgs, recipients, replies
from tests.fixtures.postbox import pdf_bytes
from web import create_app

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
PIN = "482917"
SUBJECT = "Your annual statement 2026"

pytestmark = [pytest.mark.parametrize("db_url", ["sqlite"], indirect=True), pytest.mark.slow]


@pytest.fixture
def base_url(pb) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, create_app(pb), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("CHROMIUM MISSING: /usr/bin/chromium not found; "
                    "run `apt-get install -y chromium` (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Axe:
    """Runs axe-core in the page and collects serious and critical violations per page."""

    def __init__(self, context: Any) -> None:
        self.enabled = AXE.exists()
        self.found: dict[str, list[str]] = {}
        if self.enabled:
            context.route("**/__axe__.js", lambda route: route.fulfill(
                path=str(AXE), content_type="application/javascript"))

    def check(self, page: Any, name: str) -> None:
        if not self.enabled:
            return
        page.add_script_tag(url="/__axe__.js")
        result = page.evaluate("""async () => await axe.run(document, {
            runOnly: ['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice'], iframes: false})""")
        self.found[name] = [f"{v['id']} ({v['impact']}): {v['help']} "
                            f"{[n['target'] for n in v['nodes']]}"
                            for v in result["violations"]
                            if v["impact"] in ("serious", "critical")]


def _shoot(page: Any, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def test_activate_login_read_logout(pb, clock, base_url, browser) -> None:
    orgs.create_org(pb, "Acme Bank", "acme")
    invitation = recipients.invite_recipient(pb, "acme", "CUST-77", "carol@example.org")
    original = pdf_bytes("Dear Carol, here is your statement.", pages=2)
    receipt = delivery.deliver(pb, "acme", "CUST-77", io.BytesIO(original), SUBJECT,
                               "statement-2026.pdf", case="ACC-2026")
    replies.init_org_keys(pb, "acme")
    delivery.deliver(pb, "acme", "CUST-77", io.BytesIO(pdf_bytes("older")), "Welcome letter",
                     "welcome.pdf")

    context = browser.new_context(base_url=base_url, locale="en-GB")
    axe = Axe(context)
    page = context.new_page()
    csp_errors: list[str] = []
    page.on("console", lambda m: csp_errors.append(m.text)
            if "Content Security Policy" in m.text else None)

    # Activation: letter code -> PIN -> authenticator -> recovery code
    page.goto("/activate")
    axe.check(page, "activate")
    page.fill("#code", invitation.activation_code)
    page.click("main button[type=submit]")
    page.fill("#pin", PIN)
    page.fill("#pin_confirm", PIN)
    page.click("main button[type=submit]")
    secret = page.inner_text("#totp-secret").strip()
    assert page.locator("img.qr").get_attribute("src").startswith("data:image/svg+xml")
    axe.check(page, "activate-authenticator")
    _shoot(page, "portal-activate-authenticator")
    page.fill("#otp", code_at(secret, clock.now().timestamp()))
    page.click("main button[type=submit]")
    recovery = page.inner_text("#recovery-code")
    assert len(recovery) == 29 and "shown only once" in page.content()

    # Login with PIN + a fresh TOTP code (the clock moves one step: codes are single use)
    clock.advance(seconds=30)
    page.goto("/login")
    axe.check(page, "login")
    page.fill("#identifier", "carol@example.org")
    page.fill("#pin", PIN)
    page.fill("#otp", code_at(secret, clock.now().timestamp()))
    page.click("main button[type=submit]")
    assert page.url == f"{base_url}/inbox"
    cookie = next(c for c in context.cookies() if c["name"] == "__Host-postbox")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"

    # Inbox: newest first, unread in bold
    rows = page.locator("table.messages tbody tr")
    assert rows.count() == 2
    assert page.locator("tr.unread strong", has_text=SUBJECT).count() == 1
    axe.check(page, "inbox")
    _shoot(page, "portal-inbox")

    # Open the document: the page embeds it; the content URL hands over the exact bytes
    page.click(f"text={SUBJECT}")
    page.wait_for_load_state("load")
    assert page.inner_text("h1") == SUBJECT
    frame_src = page.locator("iframe.document").get_attribute("src")
    assert frame_src == f"/messages/{receipt.document_id}/content"
    axe.check(page, "message")
    fetched = page.request.get(frame_src)
    assert fetched.status == 200
    assert fetched.headers["content-type"] == "application/pdf"
    assert fetched.headers["cache-control"] == "no-store"
    assert fetched.body() == original
    download = page.request.get(f"{frame_src}?download=1")
    assert download.headers["content-disposition"].startswith("attachment;")
    # Late and at window size: a full-page shot re-lays out the PDF viewer, which then redraws.
    page.wait_for_load_state("networkidle")
    _shoot(page, "portal-message", full_page=False)

    page.goto("/history")
    assert SUBJECT in page.inner_text("main")
    page.goto("/settings")
    axe.check(page, "settings")
    _shoot(page, "portal-settings")
    # Reply to the statement; the matter's page shows it and says automation waits
    page.goto(f"/messages/{receipt.document_id}/reply")
    axe.check(page, "reply")
    page.fill("#text", "Thank you, received.")
    page.click("main button[type=submit]")
    page.wait_for_load_state("load")
    assert page.url.endswith(f"/messages/{receipt.document_id}")
    page.click("text=See every letter in this matter")
    assert "ACC-2026" in page.inner_text("h1") and "you replied" in page.inner_text("main")
    axe.check(page, "case")
    page.goto("/inbox?lang=de")
    assert "Posteingang" in page.inner_text("h1")
    _shoot(page, "portal-inbox-de")
    page.goto(f"/messages/{receipt.document_id}?lang=en")

    # Log out, then Back: the browser must not show the message again
    with page.expect_navigation(url=f"{base_url}/login**"):
        page.click("header button[type=submit]")
    page.wait_for_load_state()  # Back while the logout redirect settles detaches the page
    assert page.url.startswith(f"{base_url}/login")
    page.go_back()
    assert "/login" in page.url
    assert SUBJECT not in page.content()
    page.go_back()
    assert SUBJECT not in page.content()
    assert page.request.get(frame_src).url.startswith(f"{base_url}/login")

    assert not csp_errors, csp_errors
    context.close()
    if not axe.enabled:
        pytest.skip(f"AXE-CORE MISSING at {AXE}: accessibility NOT checked; "
                    "run `npm install --no-save axe-core@4`")
    assert set(axe.found) == {"activate", "activate-authenticator", "login", "inbox",
                              "message", "settings", "reply", "case"}
    serious = {name: found for name, found in axe.found.items() if found}
    assert not serious, serious
