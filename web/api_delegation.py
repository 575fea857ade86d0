"""Delegation in the sender API, read-only: /api/v1/recipients/{external_id}/delegation.

An organisation may ask whether a recipient it knows has an active delegate covering its post
(a power of attorney, postbox/delegation.py) — yes or no, never who, and never any control.
Which delegate opened a document is in the document's evidence and proof bundles.

Wiring (the app factory, after the API's error handlers)::

    from web.api_delegation import register_delegation_api
    register_delegation_api(app, pb)
"""
from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from postbox import delegation
from postbox.bootstrap import Postbox
from postbox.errors import PostboxError
from postbox.orgs import resolve_token

bp = Blueprint("api_delegation", __name__, url_prefix="/api/v1/recipients")
EXTENSION = "postbox.api_delegation"
ROLES = ("admin", "sender", "compliance")
PROBLEMS = {
    "invalid-input": (400, "The request has an invalid field"),
    "unauthorized": (401, "A valid bearer token is required"),
    "forbidden": (403, "This token's role may not do that"),
    "not-found": (404, "Not found"),
    "unknown-recipient": (404, "Not found"),
    "error": (500, "Internal error"),
}


class _Problem(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.detail = kind, detail


def _problem(kind: str, detail: str) -> Response:
    status, title = PROBLEMS.get(kind, PROBLEMS["error"])
    response = jsonify({"type": f"urn:postbox:problem:{kind}", "title": title,
                        "status": status, "detail": detail})
    response.status_code = status
    response.mimetype = "application/problem+json"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="postbox"'
    return response


@bp.errorhandler(_Problem)
def _on_problem(exc: _Problem) -> Response:
    return _problem(exc.kind, exc.detail)


@bp.errorhandler(PostboxError)
def _on_domain_error(exc: PostboxError) -> Response:
    kinds = [getattr(c, "kind", None) for c in type(exc).__mro__]
    kind = next((str(k) for k in kinds if k in PROBLEMS), "error")
    return _problem(kind, str(exc) if kind != "error" else "Something went wrong on our side.")


def _pb() -> Postbox:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


@bp.before_request
def _authenticate() -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    caller = resolve_token(_pb(), token.strip()) if scheme.lower() == "bearer" else None
    if caller is None:
        raise _Problem("unauthorized", "send a valid token: Authorization: Bearer pbx_...")
    if caller.role not in ROLES:
        raise _Problem("forbidden", f"a {caller.role} token may not ask this")
    g.delegation_org = caller.org_id


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
