"""Error pages inside the console: the app's one error table (web/errors.py) for statuses and
reference ids, with texts worded for staff rather than recipients, in the console's layout.

Staff-facing service messages (from postbox.staff, search, settings...) get their translations
here, as the portal's do in web/errors.py.
"""
from __future__ import annotations

import logging

from flask import flash, redirect, render_template, request, url_for
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from postbox import org_settings, staff, staff_sessions, webhooks
from postbox.errors import AccountLocked, PostboxError, SessionExpired
from web import errors as app_errors
from web.org import bp

log = logging.getLogger("postbox.web")

# Kinds whose portal wording speaks to recipients ("your postbox").
BY_KIND: dict[str, LazyString] = {
    "not-found": _l("We could not find that. It may have been removed, or it belongs to "
                    "another organisation."),
    "unknown-recipient": _l("We could not find that. It may have been removed, or it belongs "
                            "to another organisation."),
    "account-locked": _l("Too many failed attempts. For your protection this account is locked "
                         "until %(until)s. Try again after that time."),
    "storage-unavailable": _l("Stored documents are temporarily unavailable. Please try again "
                              "in a few minutes."),
}
BY_MESSAGE: dict[str, LazyString] = {
    staff.BAD_INVITE: _l("This invitation is not valid: it was used, withdrawn or has expired. "
                         "Ask an administrator of your organisation for a new one."),
    "The two passwords do not match.": _l("The two passwords do not match."),
    f"a password is {staff.PASSWORD_MIN} to {staff.PASSWORD_MAX} characters": _l(
        "A password is %(min)s to %(max)s characters long.", min=staff.PASSWORD_MIN,
        max=staff.PASSWORD_MAX),
    "choose a password that is not your e-mail address": _l(
        "Choose a password that is not your e-mail address."),
    "choose a password with more different characters": _l(
        "Choose a password with more different characters."),
    "this person already has an account in this organisation": _l(
        "This person already has an account in this organisation."),
    "you cannot remove your own account": _l("You cannot remove your own account."),
    "an organisation keeps at least one admin": _l(
        "An organisation keeps at least one administrator."),
    staff_sessions.NOT_A_KEY: _l("This is not an organisation key file. Use the file made by "
                                 "“postbox org keys init”."),
    "this key file belongs to another organisation": _l(
        "This key file belongs to another organisation."),
    "this is not the organisation's current reply key": _l(
        "This is not your organisation's current reply key."),
    "this case is not on hold": _l("This case is not on hold (any more)."),
    "a document id is 32 hexadecimal characters": _l(
        "A document id is 32 characters long, made of 0-9 and a-f."),
    "a batch id is 32 hexadecimal characters": _l(
        "A batch id is 32 characters long, made of 0-9 and a-f."),
    "a date is written as YYYY-MM-DD": _l("Please enter dates as YYYY-MM-DD."),
    "the period starts after it ends": _l("The period starts after it ends."),
    "an external id is 1-128 characters: letters, digits and . _ : @ -": _l(
        "A customer number is 1 to 128 characters: letters, digits and . _ : @ -"),
    "a case reference is 1-128 characters: letters, digits and . _ : / # -": _l(
        "A case reference is 1 to 128 characters: letters, digits and . _ : / # -"),
    "write days as whole numbers separated by commas, like 3, 7": _l(
        "Write days as whole numbers separated by commas, like 3, 7."),
    f"retention is {org_settings.MIN_RETENTION_DAYS} to {org_settings.MAX_RETENTION_DAYS} days":
        _l("Retention is %(min)s to %(max)s days.", min=org_settings.MIN_RETENTION_DAYS,
           max=org_settings.MAX_RETENTION_DAYS),
    "after_days: at most 5 values from 1 to 365": _l(
        "Reminders after arrival: at most 5 values from 1 to 365 days."),
    "before_due_days: at most 5 values from 1 to 365": _l(
        "Reminders before the due date: at most 5 values from 1 to 365 days."),
    "choose what to export: a document, a batch, a recipient or a period": _l(
        "Choose what to export: a document, a batch, a customer number or a period."),
    "a webhook URL is one line of at most 2000 characters": _l(
        "A webhook address is one line of at most 2000 characters."),
    "a webhook URL must be https://host/...": _l(
        "A webhook address starts with https:// and names a host."),
    "put no credentials in a webhook URL; verify the signature instead": _l(
        "Put no user name or password in a webhook address; check the signature instead."),
    f"events must be some of {', '.join(webhooks.EVENT_TYPES)}": _l(
        "Choose at least one event."),
    "at most 20 endpoints per organisation": _l(
        "An organisation can have at most 20 webhook endpoints."),
    "description must be 1-200 characters": _l("The description can be at most 200 characters."),
    "role must be one of admin, sender, compliance": _l("Choose a role."),
    "not a valid e-mail address": _l("That is not a valid e-mail address."),
    "label must be 1-200 characters": _l("The label can be at most 200 characters."),
    "webhook URLs must point to a public address": _l(
        "Webhook addresses must point to a public address on the internet."),
}

def describe(exc: PostboxError) -> tuple[int, str]:
    """Status and translated text for a domain error, worded for staff."""
    status, text = app_errors.describe(exc)
    precise = BY_MESSAGE.get(str(exc))
    if precise is not None:
        return status, str(precise)
    for cls in type(exc).__mro__:
        kind = getattr(cls, "kind", None)
        if kind in BY_KIND:
            if isinstance(exc, AccountLocked):
                return status, str(BY_KIND[kind]) % {"until": exc.until_iso}
            return status, str(BY_KIND[kind])
        if kind in app_errors.BY_KIND:
            break
    return status, text


def render_error(status: int, text: str, reference: str | None = None) -> tuple[str, int]:
    reference = reference or app_errors.new_reference()
    title = app_errors.TITLES.get(status) or (_("Something went wrong") if status >= 500
                                              else _("That did not work"))
    if status == 423:
        title = _("Account locked")
    return render_template("org/error.html", status=status, title=title, text=text,
                           reference=reference), status


@bp.errorhandler(PostboxError)
def _domain(exc: PostboxError) -> Response | tuple[str, int]:
    if isinstance(exc, SessionExpired):
        flash(_l("Your session has ended. Please log in again."), "info")
        return redirect(url_for("org.login"))
    status, text = describe(exc)
    reference = app_errors.new_reference()
    log.log(logging.ERROR if status >= 500 else logging.INFO, "ref=%s %s %s -> %s %s: %s",
            reference, request.method, request.path, status, type(exc).__name__, exc)
    return render_error(status, text, reference)


@bp.errorhandler(CSRFError)
def _csrf(exc: CSRFError) -> tuple[str, int]:
    reference = app_errors.new_reference()
    log.info("ref=%s %s %s -> 400 CSRF: %s", reference, request.method, request.path,
             exc.description)
    return render_error(400, _("This form has expired or did not come from this site. Go "
                               "back, reload the page and try again."), reference)


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> tuple[str, int] | HTTPException:
    status = exc.code or 500
    if status < 400:
        return exc
    reference = app_errors.new_reference()
    log.info("ref=%s %s %s -> %s", reference, request.method, request.path, status)
    text = app_errors.HTTP_TEXT.get(status, app_errors.HTTP_TEXT[500 if status >= 500 else 400])
    if status == 403:
        text = _l("Your role in this organisation does not include this page. Ask an "
                  "administrator if you need it.")
    return render_error(status, str(text), reference)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> tuple[str, int]:
    reference = app_errors.new_reference()
    log.error("ref=%s unhandled error on %s %s", reference, request.method, request.path,
              exc_info=exc)
    return render_error(500, str(app_errors.HTTP_TEXT[500]), reference)
