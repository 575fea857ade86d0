"""The holds queue: cases on hold (oldest first), their replies for people holding the
organisation key, and release / cancel after a confirmation page.

The organisation key is uploaded for this session only: :func:`postbox.staff_sessions.keep_org_key`
seals it under a key that exists only in this session's server row, and the sealed bytes ride
in the session cookie. Nothing stores the key; logging out (or "Forget the key") ends it.
"""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from postbox import cases, holds_view, staff_sessions
from postbox.errors import InvalidInput
from web.org import ORG_KEY, area, bp, me, postbox, token
from web.org.errors import describe
from web.portal.forms import field

MAX_KEY_UPLOAD = 16 << 10
ACTIONS = {"release", "cancel"}


def _session_key() -> bytes | None:
    sealed = session.get(ORG_KEY)
    return staff_sessions.org_key(postbox(), token(), sealed) if sealed else None


def _queue(error: str | None = None, status: int = 200) -> tuple[str, int]:
    key = _session_key()
    return render_template("org/holds.html", queue=holds_view.queue(postbox(), me().org_id, key),
                           key_loaded=key is not None, error=error), status


@bp.get("/holds")
@area("holds")
def hold_list() -> tuple[str, int]:
    return _queue()


@bp.post("/holds/key")
@area("holds")
def hold_key() -> Response | tuple[str, int]:
    if (request.content_length or 0) > MAX_KEY_UPLOAD:
        abort(413)
    upload = request.files.get("key")
    data = upload.read(MAX_KEY_UPLOAD + 1) if upload is not None else b""
    try:
        session[ORG_KEY] = staff_sessions.keep_org_key(postbox(), token(), data)
    except InvalidInput as exc:
        status, text = describe(exc)
        return _queue(text, status)
    flash(_l("The organisation key is loaded for this session. It is not stored; it is "
             "forgotten when you log out."), "info")
    return redirect(url_for(".hold_list"))


@bp.post("/holds/key/forget")
@area("holds")
def hold_key_forget() -> Response:
    session.pop(ORG_KEY, None)
    flash(_l("The organisation key was forgotten."), "info")
    return redirect(url_for(".hold_list"))


@bp.get("/holds/<action>")
@area("holds")
def hold_confirm(action: str) -> str:
    if action not in ACTIONS:
        abort(404)
    held = holds_view.held_case(postbox(), me().org_id, request.args.get("case", "")[:200])
    return render_template("org/hold_confirm.html", action=action, case=held)


@bp.post("/holds/<action>")
@area("holds")
def hold_act(action: str) -> Response:
    if action not in ACTIONS or request.form.get("confirm") != "yes":
        abort(400 if action in ACTIONS else 404)
    reference = field("case")
    act = cases.release if action == "release" else cases.cancel
    done = act(postbox(), me().org_id, reference, me().email)
    if action == "release":
        flash(_l("Case %(case)s was released. Letters delivered: %(n)s.", case=reference,
                 n=len(done)), "info")
    else:
        flash(_l("Held letters of case %(case)s cancelled: %(n)s. The case stays on hold "
                 "until it is released.", case=reference, n=len(done)), "info")
    return redirect(url_for(".hold_list"))
