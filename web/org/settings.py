"""Settings (admins): API tokens and staff (new values shown once), webhook endpoints with their
recent delivery attempts, the notice policy, and retention (shortening it asks first)."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from postbox import api_tokens, org_settings, orgs, staff, webhooks
from postbox.errors import PostboxError
from postbox.models import ROLES
from web.org import area, bp, me, postbox
from web.org.errors import describe
from web.portal.forms import correctable, field

Page = str | tuple[str, int] | Response
RECENT_ATTEMPTS = 10


def _form_error(exc: PostboxError) -> tuple[int, str]:
    if not correctable(exc):
        raise exc
    return describe(exc)


# -- notice policy and retention ---------------------------------------------------------------

def _general(error: str | None = None, section: str | None = None, status: int = 200,
             **extra: Any) -> tuple[str, int]:
    return render_template("org/settings.html", current=org_settings.get(postbox(), me().org_id),
                           error=error, section=section, **extra), status


@bp.get("/settings")
@area("settings")
def settings_page() -> tuple[str, int]:
    return _general()


@bp.post("/settings/notices")
@area("settings")
def settings_notices() -> Page:
    try:
        org_settings.set_notice_policy(
            postbox(), me().org_id, request.form.get("show_sender") == "yes",
            org_settings.parse_days(field("after_days")),
            org_settings.parse_days(field("before_due_days")))
    except PostboxError as exc:
        status, text = _form_error(exc)
        return _general(text, "notices", status)
    flash(_l("The notice policy was saved. It applies to documents delivered from now on."),
          "info")
    return redirect(url_for(".settings_page"))


@bp.post("/settings/retention")
@area("settings")
def settings_retention() -> Page:
    raw = field("retention_days").strip()
    try:
        days = int(raw) if raw.isdigit() and len(raw) <= 6 else -1
        purged = org_settings.documents_older_than(postbox(), me().org_id, days)
        current = org_settings.get(postbox(), me().org_id).retention_days
        if days < current and purged and request.form.get("confirm") != "yes":
            return _general(section="retention-confirm", new_days=days, purged=purged)
        org_settings.set_retention(postbox(), me().org_id, days)
    except PostboxError as exc:
        status, text = _form_error(exc)
        return _general(text, "retention", status)
    flash(_l("Retention was set to %(days)s days.", days=days), "info")
    return redirect(url_for(".settings_page"))


# -- API tokens ----------------------------------------------------------------------------

def _tokens(new_token: str | None = None, error: str | None = None,
            status: int = 200) -> tuple[str, int]:
    return render_template("org/tokens.html", tokens=api_tokens.list_tokens(postbox(),
                                                                            me().org_id),
                           roles=ROLES, new_token=new_token, error=error), status


@bp.route("/settings/tokens", methods=["GET", "POST"])
@area("settings")
def settings_tokens() -> tuple[str, int]:
    if request.method == "GET":
        return _tokens()
    try:
        value = orgs.create_token(postbox(), me().org_id, field("role"),
                                  field("label").strip()[:200] or None)
    except PostboxError as exc:
        status, text = _form_error(exc)
        return _tokens(error=text, status=status)
    return _tokens(new_token=value)  # rendered once, never stored or redirected with


@bp.post("/settings/tokens/<token_id>/revoke")
@area("settings")
def settings_token_revoke(token_id: str) -> Response:
    orgs.revoke_token(postbox(), me().org_id, token_id)
    flash(_l("The token was revoked. Programs using it can no longer connect."), "info")
    return redirect(url_for(".settings_tokens"))


# -- staff ---------------------------------------------------------------------------------

def _staff(invitation: staff.Invitation | None = None, error: str | None = None,
           status: int = 200) -> tuple[str, int]:
    pb = postbox()
    return render_template(
        "org/staff.html", people=staff.list_staff(pb, me().org_id),
        invites=staff.list_invites(pb, me().org_id), roles=ROLES, invitation=invitation,
        link=staff.invite_link(pb.settings, invitation.code) if invitation else None,
        error=error), status


@bp.route("/settings/staff", methods=["GET", "POST"])
@area("settings")
def settings_staff() -> tuple[str, int]:
    if request.method == "GET":
        return _staff()
    try:
        invitation = staff.invite(postbox(), me().org_id, field("email").strip(), field("role"),
                                  invited_by=me().email)
    except PostboxError as exc:
        status, text = _form_error(exc)
        return _staff(error=text, status=status)
    return _staff(invitation=invitation)


@bp.post("/settings/staff/<staff_id>/remove")
@area("settings")
def settings_staff_remove(staff_id: str) -> Page:
    try:
        email = staff.remove_staff(postbox(), me().org_id, staff_id, me().staff_id)
    except PostboxError as exc:
        status, text = _form_error(exc)
        return _staff(error=text, status=status)
    flash(_l("%(email)s was removed and signed out.", email=email), "info")
    return redirect(url_for(".settings_staff"))


@bp.post("/settings/invites/<invite_id>/revoke")
@area("settings")
def settings_invite_revoke(invite_id: str) -> Response:
    staff.revoke_invite(postbox(), me().org_id, invite_id)
    flash(_l("The invitation was withdrawn; its link no longer works."), "info")
    return redirect(url_for(".settings_staff"))


# -- webhooks ------------------------------------------------------------------------------

def _webhooks(new_secret: str | None = None, error: str | None = None,
              status: int = 200) -> tuple[str, int]:
    pb = postbox()
    endpoints = webhooks.list_endpoints(pb, me().org_id)
    attempts = {e.id: webhooks.recent_deliveries(pb, me().org_id, e.id, limit=RECENT_ATTEMPTS)
                for e in endpoints}
    return render_template("org/webhooks.html", endpoints=endpoints, attempts=attempts,
                           events=webhooks.EVENT_TYPES, new_secret=new_secret,
                           error=error), status


@bp.route("/settings/webhooks", methods=["GET", "POST"])
@area("settings")
def settings_webhooks() -> tuple[str, int]:
    if request.method == "GET":
        return _webhooks()
    try:
        _view, secret = webhooks.create_endpoint(
            postbox(), me().org_id, field("url").strip(),
            [e for e in request.form.getlist("events") if e in webhooks.EVENT_TYPES],
            field("description").strip() or None)
    except PostboxError as exc:
        status, text = _form_error(exc)
        return _webhooks(error=text, status=status)
    return _webhooks(new_secret=secret)


@bp.post("/settings/webhooks/<endpoint_id>/delete")
@area("settings")
def settings_webhook_delete(endpoint_id: str) -> Response:
    webhooks.delete_endpoint(postbox(), me().org_id, endpoint_id)
    flash(_l("The webhook endpoint was removed."), "info")
    return redirect(url_for(".settings_webhooks"))


@bp.post("/settings/webhooks/<endpoint_id>/enable")
@area("settings")
def settings_webhook_enable(endpoint_id: str) -> Response:
    webhooks.enable_endpoint(postbox(), me().org_id, endpoint_id)
    flash(_l("The webhook endpoint is on again."), "info")
    return redirect(url_for(".settings_webhooks"))
