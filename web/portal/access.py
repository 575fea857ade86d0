"""Getting in and out: activation with the letter code, login with PIN + TOTP, logout.

Activation takes three screens but one service call at the end needs all the answers, so the
answers so far travel in the session cookie sealed under the master key (``seal_draft``): the
browser carries them without being able to read them, and they go stale after 30 minutes.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.wrappers import Response

from postbox import account, activation, auth
from postbox.errors import AuthenticationFailed, PostboxError
from web.errors import describe
from web.portal import bp
from web.portal.forms import correctable, field
from web.portal.qr import qr_data_uri
from web.sessions import postbox, safe_next, sign_in, sign_out

DRAFT = "activation"
DRAFT_MAX_AGE_S = 1800

Page = str | tuple[str, int] | Response


@bp.route("/login", methods=["GET", "POST"])
def login() -> Page:
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(url_for(".inbox"))
        return render_template("portal/login.html", error=None, identifier="")
    identifier = field("identifier")
    try:
        unlocked = auth.authenticate(postbox(), identifier, field("pin"), field("otp"))
    except AuthenticationFailed as exc:  # one message for every wrong factor; lock said plainly
        status, text = describe(exc)
        return render_template("portal/login.html", error=text, identifier=identifier), status
    sign_in(unlocked)
    return redirect(safe_next(request.args.get("next")) or url_for(".inbox"))


@bp.post("/logout")
def logout() -> Response:
    sign_out()
    flash(_l("You have logged out. Close the browser if others use this device."), "info")
    return redirect(url_for(".login"))


def _draft() -> dict[str, str] | None:
    sealed = session.get(DRAFT)
    return account.open_draft(postbox(), sealed, DRAFT_MAX_AGE_S) if sealed else None


def _restart() -> Response:
    session.pop(DRAFT, None)
    flash(_l("Please start the activation again with the code from your letter."), "info")
    return redirect(url_for(".activate"))


@bp.route("/activate", methods=["GET", "POST"])
def activate() -> Page:
    """Step 1: the code from the letter."""
    if request.method == "GET":
        return render_template("portal/activate_code.html", error=None)
    code = field("code")
    try:
        start = activation.begin_activation(postbox(), code)
    except PostboxError as exc:
        if not correctable(exc):
            raise
        status, text = describe(exc)
        return render_template("portal/activate_code.html", error=text), status
    session[DRAFT] = account.seal_draft(postbox(), {
        "code": code, "email": start.email, "secret": start.totp_secret,
        "uri": start.provisioning_uri})
    return redirect(url_for(".activate_pin"))


@bp.route("/activate/pin", methods=["GET", "POST"])
def activate_pin() -> Page:
    """Step 2: choose a PIN (typed twice)."""
    draft = _draft()
    if draft is None:
        return _restart()
    if request.method == "GET":
        return render_template("portal/activate_pin.html", error=None, email=draft["email"])
    try:
        pin = activation.check_new_pin(field("pin"), field("pin_confirm"))
    except PostboxError as exc:
        if not correctable(exc):
            raise
        status, text = describe(exc)
        return render_template("portal/activate_pin.html", error=text,
                               email=draft["email"]), status
    session[DRAFT] = account.seal_draft(postbox(), {**draft, "pin": pin})
    return redirect(url_for(".activate_authenticator"))


@bp.route("/activate/authenticator", methods=["GET", "POST"])
def activate_authenticator() -> Page:
    """Step 3: scan the QR code, confirm with a first code; then the recovery code, once."""
    draft = _draft()
    if draft is None or "pin" not in draft:
        return _restart()
    error, status = None, 200
    if request.method == "POST":
        try:
            done = activation.activate(postbox(), draft["code"], draft["pin"], draft["pin"],
                                       field("otp"))
        except PostboxError as exc:
            if not correctable(exc):
                raise
            if not isinstance(exc, AuthenticationFailed) or str(exc) == activation.BAD_CODE:
                return _restart()  # the letter code or pending authenticator is gone
            status, error = describe(exc)
        else:
            session.pop(DRAFT, None)
            # Rendered, never stored: the recovery code exists only in this response.
            return render_template("portal/activate_done.html", recovery_code=done.recovery_code,
                                   email=done.email)
    return render_template("portal/activate_authenticator.html", error=error,
                           secret=draft["secret"], qr=qr_data_uri(draft["uri"]),
                           email=draft["email"]), status
