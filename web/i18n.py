"""Languages: English and German, from ``?lang=``, then the language cookie, then Accept-Language.

Every user-visible string goes through gettext; catalogues live in web/translations
(``pybabel extract -F web/babel.cfg -k _l -o web/translations/messages.pot web``).
"""
from __future__ import annotations

from datetime import date, datetime
from urllib.parse import urlencode

from flask import Flask, Response, current_app, request
from flask_babel import Babel, format_date, format_datetime, format_decimal, get_locale
from flask_babel import gettext as _

LANGUAGES = {"en": "English", "de": "Deutsch"}
DEFAULT = "en"
COOKIE = "postbox-lang"  # "__Host-postbox-lang" whenever cookies are Secure (ASVS 3.3.1/3.3.3)
COOKIE_AGE = 365 * 24 * 3600


def select_locale() -> str:
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    kept = request.cookies.get(cookie_name())
    if kept in LANGUAGES:
        return kept
    return request.accept_languages.best_match(list(LANGUAGES)) or DEFAULT


def cookie_name() -> str:
    """The __Host- prefix binds the cookie to this host over a secure channel (no Domain,
    Path=/), so a sibling domain cannot plant a language for us."""
    return f"__Host-{COOKIE}" if current_app.config["SESSION_COOKIE_SECURE"] else COOKIE


def _remember(response: Response) -> Response:
    asked = request.args.get("lang")
    name = cookie_name()
    if asked in LANGUAGES and request.cookies.get(name) != asked:
        response.set_cookie(name, asked, max_age=COOKIE_AGE, path="/", httponly=True,
                            secure=current_app.config["SESSION_COOKIE_SECURE"],
                            samesite="Lax")
    return response


def switch_url(code: str) -> str:
    """The current page in another language."""
    args = {k: v for k, v in request.args.items() if k != "lang"}
    return f"{request.path}?{urlencode({**args, 'lang': code})}"


def _template_globals() -> dict[str, object]:
    current = str(get_locale() or DEFAULT)
    return {
        "current_language": current,
        "other_languages": [(code, name) for code, name in LANGUAGES.items() if code != current],
        "switch_url": switch_url,
    }


def when(value: datetime) -> str:
    """A moment, in the reader's language and the configured time zone."""
    return format_datetime(value, "medium")


def day(value: date | datetime) -> str:
    return format_date(value, "medium")


def filesize(size: int) -> str:
    if size < 1024:
        return _("%(n)s bytes", n=format_decimal(size))
    if size < 1024 * 1024:
        return _("%(n)s KB", n=format_decimal(round(size / 1024, 1)))
    return _("%(n)s MB", n=format_decimal(round(size / (1024 * 1024), 1)))


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale)
    app.after_request(_remember)
    app.context_processor(_template_globals)
    app.add_template_filter(when)
    app.add_template_filter(day)
    app.add_template_filter(filesize)
