"""Delegation in the sender API, read-only: /api/v1/recipients/{external_id}/delegation.

An organisation may ask whether a recipient it knows has an active delegate covering its post
(a power of attorney, postbox/delegation.py) — yes or no, never who, and never any control.
Which delegate opened a document is in the document's evidence and proof bundles.

Wiring (the app factory, after the API's error handlers)::

    from web.api_delegation import register_delegation_api
    register_delegation_api(app, pb)
"""
from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, g, jsonify

from postbox import delegation
from postbox.bootstrap import Postbox
from web.api import access

bp = Blueprint("api_delegation", __name__, url_prefix="/api/v1/recipients")
EXTENSION = "postbox.api_delegation"
ROLES = ("admin", "sender", "compliance")


def _pb() -> Postbox:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


@bp.before_request
def _authenticate() -> None:
    g.delegation_org = access.authenticate(ROLES, "ask this").org_id


@bp.get("/<external_id>/delegation")
def get_delegation(external_id: str) -> Response:
    active = delegation.has_active_delegate(_pb(), g.delegation_org, external_id)
    return jsonify({"recipient": external_id, "active_delegate": active})


def register_delegation_api(app: Flask, pb: Postbox | None = None) -> None:
    """Mount the blueprint (exempt from CSRF: bearer tokens, no cookies)."""
    from web.security import csrf

    app.extensions[EXTENSION] = pb or app.extensions["postbox"]
    app.register_blueprint(bp)
    csrf.exempt(bp)


# -- OpenAPI fragment ----------------------------------------------------------------------------

_PROBLEM = {"content": {"application/problem+json": {
    "schema": {"$ref": "#/components/schemas/Problem"}}}}
bp.openapi_paths = {  # type: ignore[attr-defined]
    "/recipients/{external_id}/delegation": {
        "parameters": [{"name": "external_id", "in": "path", "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 128}}],
        "get": {
            "operationId": "getRecipientDelegation", "tags": ["recipients"],
            "summary": "Does this recipient have an active delegate covering your post?",
            "description": ("Read-only. A delegate (power of attorney) is granted and revoked "
                            "by the recipient alone; who opened a document is in its "
                            "evidence (details.delegate)."),
            "responses": {
                "200": {"description": "Yes or no", "content": {"application/json": {
                    "schema": {"type": "object", "required": ["recipient", "active_delegate"],
                               "properties": {"recipient": {"type": "string"},
                                              "active_delegate": {"type": "boolean"}}}}}},
                "400": {"description": "Malformed external id", **_PROBLEM},
                "401": {"description": "No valid token", **_PROBLEM},
                "403": {"description": "The token's role may not ask", **_PROBLEM},
                "404": {"description": "No such recipient", **_PROBLEM},
                "default": {"description": "Problem details", **_PROBLEM}}},
    },
}
