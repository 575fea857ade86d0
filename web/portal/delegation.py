"""Delegation in the portal: grant, accept, revoke (under /settings), and a delegate reading
the owner's postbox (/postbox/<owner>/...), with the switcher "my postbox" / "postbox of X".

Every delegate route goes through the services' access check, so a revoked or expired grant
is a 404 on the very next request.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as Redirect

from postbox import delegation, delegation_keys, delegation_reading, reading
from postbox.errors import NotFound, PostboxError
from web.errors import describe, new_reference
from web.portal import bp
from web.portal.forms import correctable, field
from web.portal.mail import content_disposition
from web.security import CONTENT_CSP
from web.sessions import postbox, vault

log = logging.getLogger("postbox.web")
FIRST_CHUNK = 100  # documents re-wrapped in the granting request; the rest in the background

Page = str | tuple[str, int] | Redirect
# The grant form's service messages, as people read them.
MESSAGES = {
    "no activated postbox matches that e-mail address or customer number": _l(
        "No activated postbox matches that e-mail address or customer number."),
    "you cannot grant access to yourself": _l("You cannot give access to yourself."),
    "give the expiry date as YYYY-MM-DD": _l("Enter the end date as a date, e.g. 2027-12-31."),
    "the expiry date must be today or later": _l("The end date must be today or later."),
    "a delegation can last at most three years": _l("Access can last at most three years."),
    "choose read-only or read and reply": _l("Choose read only, or read and reply."),
    "no such organisation": _l("Choose a sender from the list."),
    "this person already has (or was offered) access; revoke it first": _l(
        "This person already has, or was offered, access. End that first."),
}


@bp.app_context_processor
def _switcher() -> dict[str, Any]:
    """The postboxes the signed-in person may open for others (for the switcher)."""
    try:
        if not current_user.is_authenticated:
            return {"delegated_boxes": []}
        boxes = [g for g in delegation.received(postbox(), vault()) if g.state == "active"]
        return {"delegated_boxes": boxes}
    except Exception:  # noqa: BLE001 - error pages render this too; never fail here
        return {"delegated_boxes": []}


def _resume_rewrap() -> None:
    """The owner's session (re)starts wrapping their existing documents for delegates."""
    pb, v = postbox(), vault()
    if delegation_keys.pending(pb, v):
        delegation_keys.start_background(pb, v)


def _page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    pb, v = postbox(), vault()
    return render_template("portal/delegation.html", given=delegation.given(pb, v),
                           received=delegation.received(pb, v),
                           organisations=delegation.organisations(pb, v),
                           error=error), status


@bp.get("/settings/delegation")
@login_required
def delegation_settings() -> tuple[str, int]:
    _resume_rewrap()
    return _page()


@bp.post("/settings/delegation")
@login_required
def delegation_grant() -> Page:
    pb, v = postbox(), vault()
    try:
        delegation.grant(pb, v, field("delegate"), field("expires_on"),
                         org=field("org") or None, scope=field("scope") or "read")
    except PostboxError as exc:
        if not (correctable(exc) or isinstance(exc, NotFound)):
            raise
        status, text = describe(exc)
        return _page(str(MESSAGES.get(str(exc), text)), 404 if isinstance(exc, NotFound)
                     else status)
    if delegation_keys.rewrap(pb, v, FIRST_CHUNK) and delegation_keys.pending(pb, v):
        delegation_keys.start_background(pb, v)
    flash(_l("Access was offered. It starts once the other person accepts it."), "info")
    return redirect(url_for(".delegation_settings"))


@bp.post("/settings/delegation/<grant_id>/revoke")
@login_required
def delegation_revoke(grant_id: str) -> Redirect:
    delegation.revoke(postbox(), vault(), grant_id)
    flash(_l("Access was ended. It stopped at once."), "info")
    return redirect(url_for(".delegation_settings"))


@bp.post("/settings/delegation/<grant_id>/accept")
@login_required
def delegation_accept(grant_id: str) -> Redirect:
    delegation.accept(postbox(), vault(), grant_id)
    flash(_l("You can now open this postbox from the switcher at the top."), "info")
    return redirect(url_for(".delegation_settings"))


@bp.post("/settings/delegation/<grant_id>/decline")
@login_required
def delegation_decline(grant_id: str) -> Redirect:
    delegation.decline(postbox(), vault(), grant_id)
    flash(_l("The offer was declined."), "info")
    return redirect(url_for(".delegation_settings"))


@bp.get("/postbox/<owner_id>")
@login_required
def delegate_inbox(owner_id: str) -> str:
    box = delegation_reading.inbox(postbox(), vault(), owner_id)
    return render_template("portal/delegation_inbox.html", box=box)


@bp.get("/postbox/<owner_id>/messages/<document_id>")
@login_required
def delegate_message(owner_id: str, document_id: str) -> str:
    msg = delegation_reading.message(postbox(), vault(), owner_id, document_id)
    grant = next((g for g in delegation.received(postbox(), vault())
                  if g.owner_id == owner_id and g.state == "active"), None)
    return render_template("portal/delegation_message.html", message=msg, owner_id=owner_id,
                           owner_email=grant.owner_email if grant else "",
                           can_reply=bool(grant and grant.scope == "reply"))


def _guarded(chunks: Iterator[bytes], document_id: str) -> Iterator[bytes]:
    try:
        yield from chunks
    except reading.DocumentUnreadable:
        log.error("ref=%s document %s failed its integrity check while streaming to a "
                  "delegate; response aborted", new_reference(), document_id)
        raise


@bp.get("/postbox/<owner_id>/messages/<document_id>/content")
@login_required
def delegate_content(owner_id: str, document_id: str) -> Response:
    if request.method == "HEAD":  # headers only: no decryption, no retrieval evidence
        msg = delegation_reading.message(postbox(), vault(), owner_id, document_id)
        chunks: Iterator[bytes] = iter(())
    else:
        opened = delegation_reading.open_message(postbox(), vault(), owner_id, document_id)
        msg, chunks = opened.message, _guarded(opened.chunks, document_id)
    response = Response(chunks, mimetype=msg.content_type)
    response.headers["Content-Disposition"] = content_disposition(
        "attachment" if request.args.get("download") == "1" else "inline", msg.filename)
    response.headers["Content-Security-Policy"] = CONTENT_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
