"""The one table from domain errors to HTTP status and translated text, and the error pages.

Service messages are English and meant for logs; people see the translated text for the
error's kind (or, for a few well-known messages, a more precise translated text). Every error
page carries a reference id that is also in the log, and never a traceback.
"""
from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass

from flask import Flask, flash, redirect, render_template, request, url_for
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from postbox.activation import BAD_CODE
from postbox.errors import AccountLocked, PostboxError, SessionExpired

log = logging.getLogger("postbox.web")


@dataclass(frozen=True)
class Outcome:
    status: int
    text: LazyString


# kind -> (HTTP status, what the person reads). Subclasses fall back to their parents' kind.
BY_KIND: dict[str, Outcome] = {
    "authentication-failed": Outcome(401, _l(
        "Those details do not match our records. Check them and try again.")),
    "account-locked": Outcome(423, _l(
        "Too many failed attempts. For your protection the postbox is locked until "
        "%(until)s. Try again after that time.")),
    "session-expired": Outcome(401, _l("Your session has ended. Please log in again.")),
    "invalid-input": Outcome(400, _l("Please check what you entered and try again.")),
    "not-found": Outcome(404, _l("We could not find that message in your postbox.")),
    "unknown-recipient": Outcome(404, _l("We could not find that message in your postbox.")),
    "conflict": Outcome(409, _l("That cannot be done right now: it clashes with something that "
                                "already exists.")),
    "too-large": Outcome(413, _l("That is larger than we accept.")),
    "unsupported-type": Outcome(415, _l("That kind of file is not accepted.")),
    "storage-unavailable": Outcome(503, _l(
        "Your documents are temporarily unavailable. Please try again in a few minutes.")),
    "storage-full": Outcome(507, _l(
        "We cannot take new documents right now. Please try again later.")),
    "storage-misconfigured": Outcome(503, _l(
        "Your documents are temporarily unavailable. Please try again in a few minutes.")),
    "database-unavailable": Outcome(503, _l(
        "The service is temporarily unavailable. Please try again in a few minutes.")),
    "database-full": Outcome(507, _l(
        "We cannot save changes right now. Please try again later.")),
    "document-unreadable": Outcome(502, _l(
        "This document failed its integrity check and was not shown. Please contact the "
        "sender.")),
    "config": Outcome(500, _l("The service is not set up correctly. Please try again later.")),
    "error": Outcome(500, _l("Something went wrong on our side. Please try again later.")),
}

# Well-known service messages with a more precise translation than their kind's text.
BY_MESSAGE: dict[str, LazyString] = {
    BAD_CODE: _l("That activation code is not valid. Check the letter and try again."),
    "That code from the authenticator app is not valid.": _l(
        "That code from the authenticator app is not valid. Enter the code it shows now."),
    "Start the activation again: no authenticator is being set up.": _l(
        "Please start the activation again."),
    "Start setting up the new authenticator again.": _l(
        "Please start setting up the new authenticator again."),
    "The two PINs do not match.": _l("The two PINs do not match."),
    "a PIN is 6 to 12 digits (0-9)": _l("A PIN is 6 to 12 digits (0-9)."),
    "choose a PIN that is not a run or a repeat of one digit": _l(
        "Choose a PIN that is not a run (like 123456) or one digit repeated."),
    "choose a PIN that is not a short repeated pattern": _l(
        "Choose a PIN that is not a short repeated pattern (like 121212)."),
    "not a valid e-mail address": _l("That is not a valid e-mail address."),
    "phrase must be 1-64 characters": _l("The phrase can be at most 64 characters long."),
    "phrase contains control or invisible characters": _l(
        "The phrase contains characters that cannot be shown."),
    "this e-mail address cannot be used for this postbox": _l(
        "This e-mail address cannot be used for this postbox."),
    "this sender does not accept replies in the postbox yet": _l(
        "This sender does not accept replies in the postbox yet. Please contact them "
        "another way."),
    "write a message, attach a file or mark the message as disputed": _l(
        "Write a message, attach a file or mark the letter as disputed."),
    "attachments must be PDF, PNG or JPEG (checked by content)": _l(
        "Attachments must be PDF, PNG or JPEG files."),
    "a reply is at most 10000 characters": _l("A reply can be at most 10,000 characters."),
    "at most 5 attachments": _l("You can attach at most 5 files."),
    "each attachment is 1 byte to 10 MiB": _l("Each attachment can be at most 10 MiB."),
    "this message was deleted more than 30 days ago": _l(
        "This message was deleted more than 30 days ago and can no longer be restored."),
}

HTTP_TEXT: dict[int, LazyString] = {
    400: _l("The request could not be understood."),
    403: _l("You are not allowed to do that."),
    404: _l("We could not find that page."),
    405: _l("That action is not possible on this page."),
    413: _l("That is larger than we accept."),
    429: _l("Too many attempts in a short time. Please wait a minute and try again."),
    500: _l("Something went wrong on our side. Please try again later."),
}
TITLES: dict[int, LazyString] = {
    400: _l("Something is wrong with that request"),
    401: _l("Please log in"),
    403: _l("Not allowed"),
    404: _l("Not found"),
    423: _l("Postbox locked"),
    429: _l("Please slow down"),
    503: _l("Temporarily unavailable"),
}


def outcome(exc: PostboxError) -> Outcome:
    for cls in type(exc).__mro__:
        kind = getattr(cls, "kind", None)
        if kind in BY_KIND:
            return BY_KIND[kind]
    return BY_KIND["error"]


def describe(exc: PostboxError) -> tuple[int, str]:
    """HTTP status and translated text for a domain error."""
    found = outcome(exc)
    if isinstance(exc, AccountLocked):
        return found.status, str(found.text) % {"until": exc.until_iso}
    precise = BY_MESSAGE.get(str(exc))
    return found.status, str(precise if precise is not None else found.text)


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def loggable(text: str) -> str:
    """Request data as it may appear in a log line: control characters (CR, LF, ESC, NUL,
    line separators) escaped, so a crafted path cannot forge or hide log records."""
    return _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], text)


def new_reference() -> str:
    raw = secrets.token_hex(4).upper()
    return f"{raw[:4]}-{raw[4:]}"


def render_error(status: int, text: str, reference: str | None = None) -> tuple[str, int]:
    reference = reference or new_reference()
    title = TITLES.get(status) or (_("Something went wrong") if status >= 500
                                   else _("That did not work"))
    return render_template("error.html", status=status, title=title, text=text,
                           reference=reference), status


def _domain(exc: PostboxError) -> Response | tuple[str, int]:
    if isinstance(exc, SessionExpired):
        flash(_l("Your session has ended. Please log in again."), "info")
        return redirect(url_for("portal.login"))
    status, text = describe(exc)
    reference = new_reference()
    level = logging.ERROR if status >= 500 else logging.INFO
    log.log(level, "ref=%s %s %s -> %s %s: %s", reference, request.method,
            loggable(request.path), status, type(exc).__name__, loggable(str(exc)))
    return render_error(status, text, reference)


def _csrf(exc: CSRFError) -> tuple[str, int]:
    reference = new_reference()
    log.info("ref=%s %s %s -> 400 CSRF: %s", reference, request.method,
             loggable(request.path), exc.description)
    return render_error(400, _("This form has expired or did not come from this site. Go "
                               "back, reload the page and try again."), reference)


def _http(exc: HTTPException) -> tuple[str, int] | HTTPException:
    status = exc.code or 500
    if status < 400:
        return exc
    reference = new_reference()
    log.info("ref=%s %s %s -> %s", reference, request.method, loggable(request.path), status)
    return render_error(status, str(HTTP_TEXT.get(status, HTTP_TEXT[500 if status >= 500
                                                                     else 400])), reference)


def _unexpected(exc: Exception) -> tuple[str, int]:
    reference = new_reference()
    log.error("ref=%s unhandled error on %s %s", reference, request.method,
              loggable(request.path), exc_info=exc)
    return render_error(500, str(HTTP_TEXT[500]), reference)


def init_app(app: Flask) -> None:
    app.register_error_handler(PostboxError, _domain)
    app.register_error_handler(CSRFError, _csrf)
    app.register_error_handler(HTTPException, _http)
    app.register_error_handler(Exception, _unexpected)
