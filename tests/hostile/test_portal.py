"""Hostile input to the recipient portal over real HTTP (issue #11): TOTP edge cases, a fixated
and a 64 KB session cookie, CSRF on logout and reply, IDOR with ids ±1 and another
organisation's ids, SQL and LIKE wildcards in inbox search, markup and templates in subjects,
and active PDFs served only sandboxed."""
from __future__ import annotations

import io
import json

import pytest
from markupsafe import escape
from sqlalchemy import select

from crypto.totp import code_at
from postbox import delivery, replies
from postbox.models import Recipient, Reply, VaultSession
from tests.hostile.conftest import PIN, Browser, Target, pdf_bytes

pytestmark = pytest.mark.s3
COOKIE = "__Host-postbox"
UNIFORM = "Those details do not match our records"


def _neighbour(hex_id: str, step: int) -> str:
    return f"{(int(hex_id, 16) + step) % 16**32:032x}"


def _signed_in(browser: Browser) -> bool:
    return browser.get("/inbox").status_code == 200


# -- TOTP edge cases --------------------------------------------------------------------------

TOTP_CASES = {
    "000000": "000000",
    "5-digits": None,  # the current code without its last digit
    "7-digits": None,  # the current code plus one digit
    "arabic-indic-digits": None,  # the current code written in Arabic-Indic digits
    "fullwidth-digits": None,
    "spaces-around": None,
    "empty": "",
    "64k-of-digits": "1" * 65536,
}
ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.mark.parametrize("case", list(TOTP_CASES))
def test_totp_edge_cases_are_refused_uniformly(target: Target, case: str) -> None:
    person = target.person(f"T-{case}")
    browser = target.browser()
    target.clock.advance(seconds=30)
    code = code_at(person.totp_secret, target.clock.now().timestamp())
    otp = {"5-digits": code[:5], "7-digits": code + "1", "arabic-indic-digits":
           code.translate(ARABIC), "fullwidth-digits": code.translate(FULLWIDTH),
           "spaces-around": f" {code} "}.get(case, TOTP_CASES[case])
    if case == "000000" and code == "000000":  # one chance in a million: take the next step
        target.clock.advance(seconds=30)
    with target.pb.uow() as uow:
        before = uow.session.get(Recipient, person.recipient_id).totp_last_step
    answer = browser.submit("/login", {"identifier": person.email, "pin": PIN, "otp": otp},
                            "/login")
    if case == "spaces-around" and answer.status_code == 302:
        pytest.fail("a code with spaces around it was accepted")  # stripped codes: see below
    assert answer.status_code == 401, answer.text[:300]
    assert UNIFORM in answer.text
    assert not _signed_in(browser)
    with target.pb.uow() as uow:
        assert uow.session.get(Recipient, person.recipient_id).totp_last_step == before
        assert not uow.session.scalars(select(VaultSession).where(
            VaultSession.recipient_id == person.recipient_id)).first()
    target.alive()


def test_the_right_code_still_works_after_edge_cases(target: Target) -> None:
    """The control for the cases above: the same form with the current code signs in."""
    person = target.person("T-control")
    browser = target.browser()
    browser.login(person)
    assert _signed_in(browser)


# -- Session cookies --------------------------------------------------------------------------

def test_fixated_session_cookie_is_replaced_at_login(target: Target) -> None:
    attacker = target.browser()
    attacker.get("/login")  # the attacker obtains a valid pre-login session cookie...
    planted = attacker.cookies[COOKIE]
    victim = target.browser()
    victim.cookies[COOKIE] = planted  # ...and plants it in the victim's browser
    victim.login(target.alice)
    assert victim.cookies[COOKIE] != planted
    assert _signed_in(victim)
    assert not _signed_in(attacker)  # the planted value opens nothing
    forged = target.browser()
    forged.cookies[COOKIE] = "attacker-chosen-value"
    assert forged.get("/inbox").status_code == 302


@pytest.mark.parametrize("size", [60 * 1024, 64 * 1024, 80 * 1024],
                         ids=["60KB", "64KB", "80KB"])
def test_huge_cookie_is_a_4xx_or_ignored(target: Target, size: int) -> None:
    before = target.snapshot()
    cookie = f"{COOKIE}=" + "A" * size
    answer = target.raw(("GET /inbox HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         f"Cookie: {cookie}\r\nConnection: close\r\n\r\n").encode())
    assert answer.status in (302, 400, 431), answer.head  # ignored (to login) or refused
    assert target.snapshot() == before
    target.alive()


# -- CSRF on logout and on reply ---------------------------------------------------------------

@pytest.mark.parametrize("token", [None, "forged", "other-session"])
def test_csrf_on_logout_is_refused(target: Target, token: str | None) -> None:
    victim = target.browser()
    victim.login(target.alice)
    data = {} if token is None else {"csrf_token": token}
    if token == "other-session":
        data["csrf_token"] = target.browser().csrf("/login")
    answer = victim.post("/logout", data=data, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 400
    assert "This form has expired" in answer.text
    assert _signed_in(victim)


@pytest.mark.parametrize("token", [None, "forged", "other-session"])
def test_csrf_on_reply_is_refused(target: Target, token: str | None) -> None:
    replies.init_org_keys(target.pb, "acme", replace=True)
    victim = target.browser()
    victim.login(target.alice)
    before = target.snapshot()
    data = {"text": "I dispute this", "dispute": "yes"}
    if token == "forged":
        data["csrf_token"] = "forged"
    elif token == "other-session":
        data["csrf_token"] = target.browser().csrf("/login")
    answer = victim.post(f"/messages/{target.acme_doc}/reply", data=data)
    assert answer.status_code == 400
    assert "This form has expired" in answer.text
    assert target.snapshot() == before
    # The control: with this session's own token the same reply goes through.
    token_ok = victim.csrf(f"/messages/{target.acme_doc}/reply")
    sent = victim.post(f"/messages/{target.acme_doc}/reply", data={**data, "csrf_token": token_ok})
    assert sent.status_code == 302
    with target.pb.uow() as uow:
        assert uow.session.scalars(select(Reply)).first() is not None


# -- IDOR --------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["plus-1", "minus-1", "other-recipients"])
@pytest.mark.parametrize("path", ["/messages/{id}", "/messages/{id}/content",
                                  "/messages/{id}/reply"])
def test_idor_on_messages_is_not_found(target: Target, which: str, path: str) -> None:
    bob = target.person(f"B-{which}-{path.count('/')}")
    bobs_doc = delivery.deliver(target.pb, "acme", bob.external_id,
                                io.BytesIO(pdf_bytes("Bob only")), "Bob only", "b.pdf")
    victim_id = bobs_doc.document_id
    browser = target.browser()
    browser.login(target.alice)
    wanted = {"plus-1": _neighbour(target.acme_doc, 1), "minus-1": _neighbour(target.acme_doc, -1),
              "other-recipients": victim_id}[which]
    before = target.snapshot()
    answer = browser.get(path.format(id=wanted))
    assert answer.status_code == 404, answer.status_code
    assert "Bob only" not in answer.text
    for action in ("archive", "delete"):
        token = browser.csrf("/inbox")
        assert browser.post(f"/messages/{wanted}/{action}",
                            data={"csrf_token": token}).status_code == 404
    assert target.snapshot() == before


def test_message_of_alice_from_another_organisation_is_hers(target: Target) -> None:
    """Not an IDOR: one person, two senders; both letters are hers and nobody else's."""
    browser = target.browser()
    browser.login(target.alice)
    assert browser.get(f"/messages/{target.other_doc}").status_code == 200


# -- Search ------------------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["%", "_", "%%", "From%", "' OR '1'='1",
                                   "'; DROP TABLE documents; --", "\\", "[a-z]*", "From_Acme", "\x00"],
                         ids=["percent", "underscore", "double-percent", "prefix-percent",
                              "sql-or", "sql-drop", "backslash", "regex", "like-underscore",
                              "nul"])
def test_inbox_search_treats_wildcards_and_sql_as_text(target: Target, query: str) -> None:
    browser = target.browser()
    browser.login(target.alice)
    before = target.snapshot()
    answer = browser.get("/inbox", params={"q": query})
    assert answer.status_code == 200
    assert "From Acme" not in answer.text and "From Other" not in answer.text
    assert target.snapshot() == before
    assert "From Acme" in browser.get("/inbox", params={"q": "acme"}).text  # the control


@pytest.mark.parametrize("page", ["99999999999999999999999", "-1", "1e9", "٣", "NaN"])
def test_inbox_page_numbers_out_of_range(target: Target, page: str) -> None:
    browser = target.browser()
    browser.login(target.alice)
    for q in ("", "acme"):
        answer = browser.get("/inbox", params={"page": page, "q": q})
        assert answer.status_code in (200, 400), (answer.status_code, page)
    assert browser.get("/history", params={"page": page}).status_code in (200, 400)
    target.alive()


# -- Markup and templates in subjects, active PDFs ---------------------------------------------

SUBJECTS = {"script-tag": "<script>alert(1)</script>", "img-onerror":
            '"><img src=x onerror=alert(1)>', "jinja": "{{ 7*7 }} {% print 'x' %}",
            "format-string": "%(secret)s {0.__class__}", "markdown-link": "[click](javascript:x)"}


@pytest.mark.parametrize("case", list(SUBJECTS))
def test_markup_in_subjects_is_shown_as_text(target: Target, case: str) -> None:
    subject = SUBJECTS[case]
    meta = json.dumps({"recipient": "C-1", "subject": subject}).encode()
    with target.api() as api:
        answer = api.post("/documents", headers={"Idempotency-Key": f"markup-{case}"}, files=[
            ("metadata", (None, meta, "application/json")),
            ("file", ("a.pdf", pdf_bytes("x"), "application/pdf"))])
    assert answer.status_code == 201, answer.text
    doc = answer.json()["id"]
    browser = target.browser()
    browser.login(target.alice)
    for page in (browser.get("/inbox").text, browser.get(f"/messages/{doc}").text):
        assert str(escape(subject)) in page  # shown, as text
        if "<" in subject:
            assert subject not in page  # never as markup
    assert "{{ 7*7 }}" in browser.get(f"/messages/{doc}").text or case != "jinja"


def _pdf_with(extra: bytes) -> bytes:
    """A minimal PDF whose catalogue carries ``extra`` (JavaScript, an embedded file)."""
    return (b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R " + extra + b" >> endobj\n"
            b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n"
            b"%%EOF\n")


ACTIVE_PDFS = {
    "javascript": _pdf_with(b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >>"),
    "embedded-file": _pdf_with(b"/Names << /EmbeddedFiles << /Names [(x.exe) << /Type "
                               b"/Filespec /F (x.exe) /EF << /F 3 0 R >> >>] >> >>"),
}


@pytest.mark.parametrize("case", list(ACTIVE_PDFS))
def test_active_pdf_is_accepted_by_policy_and_served_sandboxed(target: Target, case: str) -> None:
    """Policy: a PDF is the sender's document and is delivered as sent (the service does not
    rewrite signed letters); it is only ever served under ``sandbox`` with nosniff, so a
    browser's viewer runs no script and nothing else on the site is reachable from it."""
    with target.api() as api:
        answer = api.post("/documents", headers={"Idempotency-Key": f"active-{case}"}, files=[
            ("metadata", (None, b'{"recipient": "C-1", "subject": "Active"}',
                          "application/json")),
            ("file", ("a.pdf", ACTIVE_PDFS[case], "application/pdf"))])
    assert answer.status_code == 201, answer.text
    browser = target.browser()
    browser.login(target.alice)
    served = browser.get(f"/messages/{answer.json()['id']}/content")
    assert served.status_code == 200 and served.content == ACTIVE_PDFS[case]
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["Content-Security-Policy"].startswith("sandbox")
    assert "default-src 'none'" in served.headers["Content-Security-Policy"]
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    download = browser.get(f"/messages/{answer.json()['id']}/content", params={"download": "1"})
    assert download.headers["Content-Disposition"].startswith("attachment;")
