"""The organisation console (/org): staff log in with e-mail, password and TOTP and see their
organisation's deliveries, batches, holds, compliance pages and settings.

Access is decided in one place. Every view is marked either :func:`public` (login, joining) or
with the console *area* it belongs to (:func:`area`); ``before_request`` resolves the staff
session and refuses with 403 any role that :func:`postbox.staff.may` does not allow there. A
view with no mark cannot be reached (403), so a new route is closed until someone classifies it;
``tests/org/test_role_matrix.py`` walks the URL map to prove it.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    request,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from postbox import staff, staff_sessions
from postbox.bootstrap import Postbox
from postbox.errors import SessionExpired
from postbox.staff_sessions import StaffIdentity
from web.sessions import safe_next

bp = Blueprint("org", __name__, url_prefix="/org")
STAFF_KEY = "staff"  # the staff session token, in the signed session cookie
ORG_KEY = "org_key"  # the organisation key sealed for this session (see postbox.staff_sessions)
F = TypeVar("F", bound=Callable[..., Any])


def public(view: F) -> F:
    """Reachable without a staff session (login, joining)."""
    view.org_public = True  # type: ignore[attr-defined]
    return view


def area(name: str) -> Callable[[F], F]:
    """The console area a view belongs to; the role table in postbox.staff decides who enters."""
    if name not in staff.AREAS:
        raise ValueError(f"unknown console area {name!r}")

    def mark(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not staff.may(me().role, name):  # the second lock; before_request is the first
                abort(403)
            return view(*args, **kwargs)

        guarded.org_area = name  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return mark


def postbox() -> Postbox:
    pb: Postbox = current_app.extensions["postbox"]
    return pb


def me() -> StaffIdentity:
    """The signed-in staff member (every non-public view runs after ``_authenticate``)."""
    identity = g.get("staff")
    if not isinstance(identity, StaffIdentity):
        raise SessionExpired()
    return identity


def token() -> str:
    return str(session.get(STAFF_KEY, ""))


def _to_login(ended: bool) -> Response:
    flash(_l("Your session has ended. Please log in again.") if ended
          else _l("Please log in to the organisation console."), "info")
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("org.login", next=safe_next(target)))


@bp.before_request
def _authenticate() -> Response | None:
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "org_public", False):
        return None
    if not session.get(STAFF_KEY):
        return _to_login(ended=False)
    try:
        g.staff = staff_sessions.resolve(postbox(), token())
    except SessionExpired:
        session.pop(STAFF_KEY, None)
        session.pop(ORG_KEY, None)
        return _to_login(ended=True)
    name = getattr(view, "org_area", None)
    if name is None or not staff.may(g.staff.role, name):
        abort(403)
    return None


ROLE_NAMES = {"admin": _l("Administrator"), "sender": _l("Sender"),
              "compliance": _l("Compliance officer")}


@bp.context_processor
def _globals() -> dict[str, Any]:
    return {"role_names": ROLE_NAMES}


@bp.app_template_global()
def org_may(name: str) -> bool:
    """For templates: whether the signed-in staff member may open an area (links only)."""
    identity = g.get("staff")
    return isinstance(identity, StaffIdentity) and staff.may(identity.role, name)


from web.org import (  # noqa: F401  (routes register on import)
    access,
    batches,
    compliance,
    errors,
    holds,
    overview,
    print_queue,
    settings,
)


@bp.record_once
def _limit_login(state: Any) -> None:
    """Rate-limit the doors people guess at (after the routes above are on the app)."""
    from web.org.limits import init_app

    app: Flask = state.app
    init_app(app)
