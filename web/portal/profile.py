"""The recipient's own account: access history and settings (PIN, e-mail, phrase, authenticator,
sessions)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from werkzeug.wrappers import Response

from postbox import account, auth
from postbox.errors import PostboxError
from web.errors import describe
from web.portal import bp
from web.portal.forms import correctable, field
from web.portal.qr import qr_data_uri
from web.sessions import end_locally, postbox, vault

TOTP_DRAFT = "totp-enrolment"
DRAFT_MAX_AGE_S = 900

Page = str | tuple[str, int] | Response


@bp.get("/history")
@login_required
def history() -> str:
    page = min(max(1, request.args.get("page", 1, type=int) or 1), 1_000_000)  # no overflow
    return render_template("portal/history.html",
                           history=account.history(postbox(), vault(), page))


def _settings(section: str | None = None, error: str | None = None,
              status: int = 200) -> tuple[str, int]:
    return render_template("portal/settings.html", profile=account.profile(postbox(), vault()),
                           section=section, error=error), status


def _failed(section: str, exc: PostboxError) -> tuple[str, int]:
    if not correctable(exc):
        raise exc
    status, text = describe(exc)
    return _settings(section, text, status)


@bp.get("/settings")
@login_required
def settings() -> tuple[str, int]:
    return _settings()


@bp.post("/settings/phrase")
@login_required
def settings_phrase() -> Page:
    try:
        value = account.set_phrase(postbox(), vault(), field("phrase"))
    except PostboxError as exc:
        return _failed("phrase", exc)
    flash(_l("Your security phrase was saved.") if value
          else _l("Your security phrase was removed."), "info")
    return redirect(url_for(".settings"))


@bp.post("/settings/email")
@login_required
def settings_email() -> Page:
    try:
        account.change_email(postbox(), vault(), field("email"), field("otp"))
    except PostboxError as exc:
        return _failed("email", exc)
    flash(_l("Notices will now go to your new e-mail address."), "info")
    return redirect(url_for(".settings"))


@bp.post("/settings/pin")
@login_required
def settings_pin() -> Page:
    try:
        auth.change_pin(postbox(), vault(), field("current_pin"), field("otp"),
                        field("new_pin"), field("new_pin_confirm"))
    except PostboxError as exc:
        return _failed("pin", exc)
    flash(_l("Your PIN was changed. Use the new PIN from your next login."), "info")
    return redirect(url_for(".settings"))


@bp.post("/settings/authenticator")
@login_required
def settings_authenticator_begin() -> Response:
    enrolment = account.begin_totp_enrolment(postbox(), vault())
    session[TOTP_DRAFT] = account.seal_draft(postbox(), {
        "secret": enrolment.secret, "uri": enrolment.provisioning_uri})
    return redirect(url_for(".settings_authenticator"))


def _enrolment() -> dict[str, str] | None:
    sealed = session.get(TOTP_DRAFT)
    return account.open_draft(postbox(), sealed, DRAFT_MAX_AGE_S) if sealed else None


def _enrolment_page(draft: dict[str, str], error: str | None = None,
                    status: int = 200) -> tuple[str, int]:
    return render_template("portal/authenticator.html", secret=draft["secret"],
                           qr=qr_data_uri(draft["uri"]), error=error), status


@bp.get("/settings/authenticator")
@login_required
def settings_authenticator() -> Page:
    draft = _enrolment()
    if draft is None:
        return redirect(url_for(".settings"))
    return _enrolment_page(draft)


@bp.post("/settings/authenticator/confirm")
@login_required
def settings_authenticator_confirm() -> Page:
    draft = _enrolment()
    if draft is None:
        flash(_l("Please start setting up the new authenticator again."), "info")
        return redirect(url_for(".settings"))
    try:
        account.confirm_totp_enrolment(postbox(), vault(), field("pin"), field("otp"))
    except PostboxError as exc:
        if not correctable(exc):
            raise
        status, text = describe(exc)
        return _enrolment_page(draft, text, status)
    session.pop(TOTP_DRAFT, None)
    flash(_l("Your new authenticator app is set up. The old one no longer works."), "info")
    return redirect(url_for(".settings"))


@bp.post("/settings/sessions/end")
@login_required
def settings_logout_everywhere() -> Response:
    auth.logout_everywhere(postbox(), vault())
    end_locally()
    flash(_l("You have been logged out on every device."), "info")
    return redirect(url_for(".login"))
