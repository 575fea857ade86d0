"""The vault-session model (DESIGN.md "Unlock") on Flask-Login.

The token from ``postbox.auth.authenticate`` is the Flask-Login user id, so it lives only in
the signed session cookie; every request hands it to ``postbox.auth.unlock``, which enforces
the idle and absolute timeouts and returns the unlocked vault. The server keeps nothing that
can decrypt on its own, and logout destroys the server-side half.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, flash, g, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.wrappers import Response

from postbox import auth
from postbox.auth import UnlockedSession, Vault
from postbox.bootstrap import Postbox
from postbox.errors import SessionExpired

TOKEN_KEY = "_user_id"  # where Flask-Login keeps the user id, i.e. our vault token


class PortalUser(UserMixin):
    """A signed-in recipient for the length of one request."""

    def __init__(self, token: str, vault: Vault | None) -> None:
        self._token = token
        self.vault = vault

    def get_id(self) -> str:
        return self._token


def postbox() -> Postbox:
    pb: Postbox = current_app.extensions["postbox"]
    return pb


def vault() -> Vault:
    """The unlocked vault of the signed-in recipient (routes are behind ``login_required``)."""
    user = current_user._get_current_object()  # type: ignore[attr-defined]
    if not isinstance(user, PortalUser) or user.vault is None:
        raise SessionExpired()
    return user.vault


def _load(token: str) -> PortalUser | None:
    try:
        unlocked = auth.unlock(postbox(), token)
    except SessionExpired:
        session.pop(TOKEN_KEY, None)
        g.session_ended = True
        return None
    return PortalUser(token, unlocked)


def safe_next(target: str | None) -> str | None:
    """A same-site path to return to after login, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _unauthorized() -> Response:
    ended = g.get("session_ended", False)
    flash(_l("Your session has ended. Please log in again.") if ended
          else _l("Please log in to open your postbox."), "info")
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("portal.login", next=safe_next(target)))


def sign_in(unlocked: UnlockedSession) -> None:
    """Start a fresh session: nothing from before login survives it (no fixation), and a
    vault session this browser still held is ended on the server too."""
    earlier = session.get(TOKEN_KEY)
    if earlier and earlier != unlocked.token:
        auth.logout(postbox(), earlier)
    session.clear()
    login_user(PortalUser(unlocked.token, None))


def sign_out() -> None:
    """End the vault session on the server, then forget the cookie's contents."""
    token = session.get(TOKEN_KEY)
    if token:
        auth.logout(postbox(), token)
    logout_user()
    session.clear()


def end_locally() -> None:
    """Forget this browser's session after the server side is already gone."""
    logout_user()
    session.clear()


def _template_globals() -> dict[str, bool]:
    # Error pages render this too, possibly after the database failed: never fail here.
    try:
        return {"signed_in": bool(current_user.is_authenticated)}
    except Exception:  # noqa: BLE001
        return {"signed_in": False}


def init_app(app: Flask) -> None:
    app.context_processor(_template_globals)
    manager = LoginManager()
    manager.session_protection = "strong"
    manager.user_loader(_load)
    manager.unauthorized_handler(_unauthorized)
    manager.login_view = "portal.login"
    manager.init_app(app)
