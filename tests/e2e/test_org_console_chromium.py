"""The organisation console in real headless Chromium.

An admin logs in (password + TOTP) and creates an API token; a batch is sent with that token
through the CLI (``postbox batch send`` against the live server); the dashboard shows the
counts; a sender reads a reply with the organisation key (uploaded for the session only) and
releases the hold after the confirmation page; a compliance officer finds a delivery and reads
its evidence timeline. axe-core checks every page (0 serious or critical), no CSP violation may
occur, and screenshots land in tests/artifacts/. The officer's proof bundle, downloaded
in the browser, must pass `postbox proofs verify`.

The app runs on a threaded werkzeug server on a free loopback port; time is a FrozenClock
shared with the services, moved 30 s between TOTP codes, so nothing sleeps.
"""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from cli.main import main
from crypto.totp import code_at
from postbox import auth, cases, checkpoints, log, orgs, replies
from tests.e2e.test_portal_chromium import ARTIFACTS, CHROMIUM, Axe
from tests.fixtures.postbox import pdf_bytes
from tests.org.helpers import PASSWORD, StaffPerson, deliver, make_staff, mark
from tests.web.helpers import PIN, activate_person
from web import create_app

pytestmark = [pytest.mark.parametrize("db_url", ["sqlite"], indirect=True), pytest.mark.slow]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
REPLY = "I paid this invoice on 3 November. Please stop the reminders."


@pytest.fixture
def base_url(pb) -> Iterator[str]:
    app = create_app(pb, {"API_RATE_LIMIT": "100000 per minute"})
    if "api" not in app.blueprints:  # until create_app registers the sender API itself
        from web.api import register_api

        register_api(app, pb)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


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


def _shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _seed(pb, clock) -> tuple[bytes, str]:
    """An organisation with a month of post, a disputed case on hold, a bouncing address."""
    orgs.create_org(pb, "Acme Bank", "acme")
    private = replies.init_org_keys(pb, "acme")
    view = orgs.get_org(pb, "acme")
    key_file = json.dumps({"format": "postbox-org-key/1", "org_id": view.id, "org": "acme",
                           "x25519_private": private.hex()}).encode()
    alice = activate_person(pb, clock, "acme", "CUST-1001", "alice@example.org")
    clock.advance(days=-20)
    for n in range(6):
        doc = deliver(pb, "acme", f"CUST-{1100 + n}", f"Statement {n}")
        mark(pb, doc, notified=n < 5, read=n < 2)
        clock.advance(days=2, hours=n)
    timeline_doc = deliver(pb, "acme", "CUST-1001", "Invoice 2026-11", case="INV-2026-11")
    mark(pb, timeline_doc, notified=True, read=True)
    clock.advance(days=8)
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    replies.reply(pb, vault, timeline_doc, REPLY, dispute=True)
    deliver(pb, "acme", "CUST-1001", "Reminder 1", case="INV-2026-11", automated=True)
    deliver(pb, "acme", "CUST-1001", "Reminder 2", case="INV-2026-11", automated=True)
    cases.hold(pb, "acme", "INV-2026-11", "seed")
    return key_file, timeline_doc


def _follow(page: Any, selector: str) -> None:
    """Click something that loads a new page, and wait until it has."""
    with page.expect_navigation():
        page.click(selector)


def _login(context: Any, person: StaffPerson, axe: Axe | None = None) -> Any:
    page = context.new_page()
    page.goto("/org/login")
    if axe is not None:
        axe.check(page, "login")
    page.fill("#email", person.email)
    page.fill("#password", PASSWORD)
    page.fill("#otp", person.otp())
    _follow(page, "main button[type=submit]")
    assert page.url.endswith("/org/dashboard"), page.url
    return page


def _send_batch(base_url: str, token: str, folder: Path) -> str:
    (folder / "docs").mkdir(parents=True)
    lines = ["recipient,file,subject"]
    for n, recipient in enumerate(["CUST-1001", "CUST-1100", "CUST-1101", "CUST-9999"]):
        (folder / "docs" / f"{n}.pdf").write_bytes(pdf_bytes(f"November letter {n}"))
        lines.append(f"{recipient},docs/{n}.pdf,November letter")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(main, ["batch", "send", str(manifest), "--server", base_url,
                                       "--token", token, "--allow-unreachable",
                                       "--reference", "November letters", "--no-progress"],
                                catch_exceptions=False)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout.strip().splitlines()[-1]


def test_console_end_to_end(pb, clock, base_url, browser, tmp_path) -> None:
    key_file, timeline_doc = _seed(pb, clock)
    admin = make_staff(pb, clock, "acme", "ada@acme.example", "admin")
    sender = make_staff(pb, clock, "acme", "sam@acme.example", "sender")
    csp_errors: list[str] = []
    found: dict[str, list[str]] = {}

    def context() -> tuple[Any, Axe]:
        ctx = browser.new_context(base_url=base_url, locale="en-GB")
        ctx.on("console", lambda m: csp_errors.append(m.text)
               if "Content Security Policy" in m.text else None)
        axe = Axe(ctx)
        axe.found = found  # one record across the three people's browsers
        return ctx, axe

    # The admin creates a sender token in Settings
    admin_ctx, axe = context()
    page = _login(admin_ctx, admin, axe)
    cookie = next(c for c in admin_ctx.cookies() if c["name"] == "__Host-postbox")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    _follow(page, "nav >> text=Settings")
    axe.check(page, "settings")
    _follow(page, ".subnav >> text=API tokens")
    page.fill("#label", "Batch robot")
    page.select_option("#role", "sender")
    _follow(page, "main form button[type=submit]")
    token = page.inner_text("#new-token").strip()
    assert token.startswith("pbx_")
    axe.check(page, "tokens")
    # ... and invites a compliance officer by a one-time link
    page.goto("/org/settings/staff")
    page.fill("#invite-email", "nina@acme.example")
    page.check("#role-compliance")
    _follow(page, "text=Create invitation link")
    link = page.inner_text("#invite-link").strip()
    axe.check(page, "staff")
    page.goto("/org/settings/webhooks")
    axe.check(page, "webhooks")

    # A batch goes out through the CLI with that token
    batch_id = _send_batch(base_url, token, tmp_path / "batch")
    page.goto("/org/batches")
    assert "November letters" in page.inner_text("#batches")
    axe.check(page, "batches")
    _follow(page, "text=November letters")
    assert page.url.endswith(f"/org/batches/{batch_id}")
    assert page.locator("#items tbody tr").count() == 4
    assert "CUST-9999" in page.inner_text("#items")
    axe.check(page, "batch")

    # The dashboard counts the month's post, the batch included
    page.goto("/org/dashboard")
    stages = [page.inner_text(f'td[data-stage="{n}"]').split(" ")[0] for n in range(4)]
    assert stages == ["10", "6", "3", "4"], stages
    assert page.inner_text("#held-count") == "2" and page.inner_text("#bounce-count") == "0"
    assert page.locator("svg#funnel rect.chart-bar").count() == 4
    axe.check(page, "dashboard")
    _shoot(page, "org-dashboard")
    page.goto("/org/dashboard?lang=de")
    assert "Zustellungen der letzten 30 Tage" in page.inner_text("main")
    _shoot(page, "org-dashboard-de")
    page.goto("/org/dashboard?lang=en")
    admin_ctx.close()

    # A sender reads the reply with the organisation key and releases the case
    sender_ctx, axe = context()
    page = _login(sender_ctx, sender)
    _follow(page, "nav >> text=Holds")
    assert "postbox replies pull" in page.inner_text("main")
    page.set_input_files("#key", files=[{"name": "acme.key", "mimeType": "application/json",
                                         "buffer": key_file}])
    _follow(page, "text=Use the key for this session")
    assert REPLY in page.inner_text("#holds")
    axe.check(page, "holds")
    _shoot(page, "org-holds")
    _follow(page, "text=Release…")
    assert "Held letters to deliver now: 2" in page.inner_text("main")
    axe.check(page, "hold-confirm")
    _follow(page, "text=Yes, release the case")
    assert "Letters delivered: 2" in page.inner_text(".flashes")
    assert "No case is on hold" in page.inner_text("main")
    _follow(page, "header button[type=submit]")  # log out: the key goes with the session
    assert page.url.endswith("/org/login")
    sender_ctx.close()

    # The invited officer joins: a password, an authenticator, a first code
    officer_ctx, axe = context()
    page = officer_ctx.new_page()
    parts = urlsplit(link)  # made for POSTBOX_PUBLIC_URL; this server listens elsewhere
    assert parts.path == "/org/join"
    page.goto(f"{parts.path}?{parts.query}")
    assert "nina@acme.example" in page.inner_text("main")
    axe.check(page, "join")
    page.fill("#password", PASSWORD)
    page.fill("#password_confirm", PASSWORD)
    secret = page.inner_text("#totp-secret").strip()
    clock.advance(seconds=30)
    page.fill("#otp", code_at(secret, clock.now().timestamp()))
    _follow(page, "text=Create my account")
    assert page.url.endswith("/org/login") and "Welcome" in page.inner_text(".flashes")
    officer = StaffPerson("", "nina@acme.example", "compliance", secret, clock)

    # A compliance officer finds the invoice and reads its evidence timeline (what the worker
    # does every second: evidence into the log, then a signed checkpoint)
    log.sequence_pending(pb)
    checkpoints.sign_checkpoint(pb)
    page = _login(officer_ctx, officer)
    page.goto("/org/settings")
    assert "does not include this page" in page.inner_text("main")
    axe.check(page, "forbidden")
    _follow(page, "nav >> text=Compliance")
    page.fill("#external_id", "CUST-1001")
    _follow(page, "main form button[type=submit]")
    assert page.locator("#deliveries tbody tr").count() >= 2, page.inner_text("main")
    axe.check(page, "compliance-search")
    _follow(page, f'a[href="/org/compliance/documents/{timeline_doc}"]')
    events = page.locator("#timeline li").evaluate_all("els => els.map(e => e.className)")
    assert events[:4] == ["event event-submission_accepted", "event event-consigned",
                          "event event-notified", "event event-replied"], events
    axe.check(page, "timeline")
    _shoot(page, "org-compliance-timeline")
    assert "not yet logged" not in page.inner_text("#timeline")
    page.goto("/org/compliance/log")
    assert int(page.inner_text("#tree-size")) > 20
    axe.check(page, "evidence-log")
    officer_ctx.close()

    assert not csp_errors, csp_errors
    if not axe.enabled:
        pytest.skip("AXE-CORE MISSING: accessibility NOT checked; "
                    "run `npm install --no-save axe-core@4`")
    assert len(found) == 15, sorted(found)
    serious = {name: issues for name, issues in found.items() if issues}
    assert not serious, serious


def test_officer_exports_a_bundle_that_verifies(pb, clock, base_url, browser,
                                                tmp_path) -> None:
    _, doc = _seed(pb, clock)
    officer = make_staff(pb, clock, "acme", "cora@acme.example", "compliance")
    ctx = browser.new_context(base_url=base_url, accept_downloads=True)
    page = _login(ctx, officer)
    page.goto(f"/org/compliance/documents/{doc}")
    assert page.locator("#export-bundle").count() == 1  # fails fast while export is missing
    with page.expect_download(timeout=10_000) as info:
        page.click("#export-bundle")
    bundle = tmp_path / "bundle.zip"
    info.value.save_as(bundle)
    result = CliRunner().invoke(main, ["proofs", "verify", str(bundle)])
    assert result.exit_code == 0, result.output
    assert re.search(r"\bOK\b|pass", result.output, re.IGNORECASE)
