"""Getting into the console: login (e-mail, password, TOTP), logout, and joining by invitation.

The join link carries the one-time code (``/org/join?code=...``); the page shows a fresh
authenticator secret (pending on the invitation, on the server) and takes the password twice
and a first code. Nothing secret is kept in the cookie on the way.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from postbox import staff, staff_sessions
from postbox.errors import AuthenticationFailed, PostboxError
from web.org import ORG_KEY, STAFF_KEY, bp, postbox, public, token
from web.org.errors import describe
from web.portal.forms import correctable, field
from web.portal.qr import qr_data_uri
from web.sessions import safe_next

Page = str | tuple[str, int] | Response


@bp.get("/")
@public
def home() -> Response:
    return redirect(url_for(".dashboard") if session.get(STAFF_KEY) else url_for(".login"))


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Page:
    if request.method == "GET":
        return render_template("org/login.html", error=None, email="")
    email = field("email")
    try:
        signed_in = staff_sessions.login(postbox(), email, field("password"), field("otp"))
    except AuthenticationFailed as exc:  # one message for every wrong factor; a lock said so
        status, text = describe(exc)
        return render_template("org/login.html", error=text, email=email), status
    earlier = session.get(STAFF_KEY)
    if earlier:
        staff_sessions.logout(postbox(), str(earlier))
    session.clear()  # nothing from before login survives it (no fixation)
    session[STAFF_KEY] = signed_in.token
    return redirect(safe_next(request.args.get("next")) or url_for(".dashboard"))


@bp.post("/logout")
@public
def logout() -> Response:
    if session.get(STAFF_KEY):
        staff_sessions.logout(postbox(), token())
    session.pop(STAFF_KEY, None)
    session.pop(ORG_KEY, None)
    flash(_l("You have logged out of the organisation console."), "info")
    return redirect(url_for(".login"))


def _join_page(code: str, error: str | None = None, status: int = 200) -> Page:
    try:
        start = staff.begin_join(postbox(), code)
    except AuthenticationFailed as exc:
        status, text = describe(exc)
        return render_template("org/join_code.html", error=text, code=code), status
    return render_template("org/join.html", error=error, code=code, start=start,
                           qr=qr_data_uri(start.provisioning_uri),
                           min_length=staff.PASSWORD_MIN), status


@bp.route("/join", methods=["GET", "POST"])
@public
def join() -> Page:
    """Accept an invitation: the code (from the link), a password, an authenticator."""
    if request.method == "GET":
        code = request.args.get("code", "")[:64]
        if not code:
            return render_template("org/join_code.html", error=None, code="")
        return _join_page(code)
    code = field("code")
    if request.form.get("step") != "confirm":
        return _join_page(code)
    try:
        joined = staff.accept_invite(postbox(), code, field("password"),
                                     field("password_confirm"), field("otp"))
    except PostboxError as exc:
        if not correctable(exc) or str(exc) == staff.BAD_INVITE:
            status, text = describe(exc)
            return render_template("org/join_code.html", error=text, code=""), status
        status, text = describe(exc)
        return _join_page(code, text, status)  # a new secret: the page shows it again
    flash(_l("Welcome. Your account (%(email)s) is ready: log in with your password and a "
             "code from your authenticator app.", email=joined.email), "info")
    return redirect(url_for(".login"))
