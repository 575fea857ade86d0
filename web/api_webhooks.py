"""Webhook endpoints in the sender API: /api/v1/webhooks (bearer token, admin or sender).

Wiring (the app factory, after the API's error handlers)::

    from web.api_webhooks import register_webhooks_api
    register_webhooks_api(app, pb)

Errors are RFC 9457 problem details with ``type`` ``urn:postbox:problem:<kind>`` (the same
scheme as the rest of /api/v1). The blueprint carries ``openapi_paths`` and
``openapi_schemas`` so the API's OpenAPI document includes it.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from postbox import webhooks
from postbox.bootstrap import Postbox
from web.api import access
from web.api.problems import ApiProblem

bp = Blueprint("api_webhooks", __name__, url_prefix="/api/v1/webhooks")
EXTENSION = "postbox.api_webhooks"
ROLES = ("admin", "sender")


def _pb() -> Postbox:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


@bp.before_request
def _authenticate() -> None:
    g.webhooks_org = access.authenticate(ROLES, "manage webhooks").org_id


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _json(e: webhooks.EndpointView) -> dict[str, Any]:
    return {"id": e.id, "url": e.url, "events": list(e.events), "description": e.description,
            "enabled": e.enabled, "failure_count": e.failure_count,
            "failing_since": _stamp(e.failing_since),
            "last_success_at": _stamp(e.last_success_at),
            "disabled_at": _stamp(e.disabled_at), "disabled_reason": e.disabled_reason,
            "created_at": _stamp(e.created_at)}


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiProblem("malformed-request", "send a JSON object (Content-Type: application/json)")
    return data


@bp.get("")
def list_endpoints() -> Response:
    items = webhooks.list_endpoints(_pb(), g.webhooks_org)
    return jsonify({"items": [_json(e) for e in items],
                    "event_types": list(webhooks.EVENT_TYPES)})


@bp.post("")
def create_endpoint() -> tuple[Response, int, dict[str, str]]:
    data = _body()
    events, url, description = data.get("events"), data.get("url"), data.get("description")
    if not isinstance(url, str) or not isinstance(events, list) \
            or not all(isinstance(e, str) for e in events) \
            or not (description is None or isinstance(description, str)):
        raise ApiProblem("invalid-input", "url (string) and events (list of strings) are required")
    view, secret = webhooks.create_endpoint(_pb(), g.webhooks_org, url, events, description)
    return (jsonify({**_json(view), "secret": secret}), 201,
            {"Location": f"/api/v1/webhooks/{view.id}"})


@bp.get("/<endpoint_id>")
def get_endpoint(endpoint_id: str) -> Response:
    return jsonify(_json(webhooks.get_endpoint(_pb(), g.webhooks_org, endpoint_id)))


@bp.delete("/<endpoint_id>")
def delete_endpoint(endpoint_id: str) -> tuple[str, int]:
    webhooks.delete_endpoint(_pb(), g.webhooks_org, endpoint_id)
    return "", 204


@bp.post("/<endpoint_id>/enable")
def enable_endpoint(endpoint_id: str) -> Response:
    return jsonify(_json(webhooks.enable_endpoint(_pb(), g.webhooks_org, endpoint_id)))


@bp.post("/<endpoint_id>/rotate-secret")
def rotate_secret(endpoint_id: str) -> Response:
    return jsonify({"secret": webhooks.rotate_secret(_pb(), g.webhooks_org, endpoint_id)})


def register_webhooks_api(app: Flask, pb: Postbox | None = None) -> None:
    """Mount the blueprint (exempt from CSRF: bearer tokens, no cookies)."""
    from web.security import csrf

    app.extensions[EXTENSION] = pb or app.extensions["postbox"]
    app.register_blueprint(bp)
    csrf.exempt(bp)


# -- OpenAPI fragment ----------------------------------------------------------------------------

def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


_PROBLEM = {"content": {"application/problem+json": {"schema": _ref("Problem")}}}
_ERRORS = {"401": {"description": "No valid token", **_PROBLEM},
           "403": {"description": "The token's role may not manage webhooks", **_PROBLEM},
           "429": {"description": "Too many requests for this token", **_PROBLEM},
           "default": {"description": "Problem details", **_PROBLEM}}
_ID = [{"name": "endpoint_id", "in": "path", "required": True, "schema": {"type": "string"}}]
_ONE = {"200": {"description": "The endpoint", **_json_content(_ref("WebhookEndpoint"))},
        "404": {"description": "No such endpoint", **_PROBLEM}, **_ERRORS}

bp.openapi_paths = {  # type: ignore[attr-defined]
    "/webhooks": {
        "get": {"operationId": "listWebhookEndpoints", "tags": ["webhooks"],
                "summary": "The organisation's webhook endpoints",
                "responses": {"200": {"description": "Endpoints and the event types",
                                      **_json_content({
                                          "type": "object", "required": ["items"],
                                          "properties": {
                                              "items": {"type": "array",
                                                        "items": _ref("WebhookEndpoint")},
                                              "event_types": {"type": "array",
                                                              "items": {"type": "string"}}}})},
                              **_ERRORS}},
        "post": {"operationId": "createWebhookEndpoint", "tags": ["webhooks"],
                 "summary": "Register an endpoint; the answer holds its signing secret, once",
                 "requestBody": {"required": True,
                                 **_json_content(_ref("WebhookEndpointCreate"))},
                 "responses": {"201": {"description": "Created",
                                       **_json_content(_ref("WebhookEndpointCreated"))},
                               "400": {"description": "Invalid URL or events", **_PROBLEM},
                               **_ERRORS}},
    },
    "/webhooks/{endpoint_id}": {
        "parameters": _ID,
        "get": {"operationId": "getWebhookEndpoint", "tags": ["webhooks"],
                "summary": "One endpoint, with its failure record", "responses": _ONE},
        "delete": {"operationId": "deleteWebhookEndpoint", "tags": ["webhooks"],
                   "summary": "Remove an endpoint",
                   "responses": {"204": {"description": "Removed"},
                                 "404": {"description": "No such endpoint", **_PROBLEM},
                                 **_ERRORS}},
    },
    "/webhooks/{endpoint_id}/enable": {
        "parameters": _ID,
        "post": {"operationId": "enableWebhookEndpoint", "tags": ["webhooks"],
                 "summary": "Turn a disabled endpoint back on", "responses": _ONE},
    },
    "/webhooks/{endpoint_id}/rotate-secret": {
        "parameters": _ID,
        "post": {"operationId": "rotateWebhookSecret", "tags": ["webhooks"],
                 "summary": "Replace the signing secret (used from the next attempt)",
                 "responses": {"200": {"description": "The new secret, shown once",
                                       **_json_content(_ref("WebhookSecret"))},
                               "404": {"description": "No such endpoint", **_PROBLEM},
                               **_ERRORS}},
    },
}

_STAMP = {"type": ["string", "null"], "format": "date-time"}
bp.openapi_schemas = {  # type: ignore[attr-defined]
    "WebhookEndpointCreate": {
        "type": "object", "required": ["url", "events"],
        "properties": {
            "url": {"type": "string", "format": "uri", "maxLength": 2000},
            "events": {"type": "array", "minItems": 1, "uniqueItems": True,
                       "items": {"type": "string", "enum": list(webhooks.EVENT_TYPES)}},
            "description": {"type": ["string", "null"], "maxLength": 200}}},
    "WebhookEndpoint": {
        "type": "object",
        "required": ["id", "url", "events", "enabled", "failure_count", "created_at"],
        "properties": {
            "id": {"type": "string"}, "url": {"type": "string"},
            "events": {"type": "array", "items": {"type": "string",
                                                  "enum": list(webhooks.EVENT_TYPES)}},
            "description": {"type": ["string", "null"]}, "enabled": {"type": "boolean"},
            "failure_count": {"type": "integer",
                              "description": "Failed attempts since the last success"},
            "failing_since": _STAMP, "last_success_at": _STAMP, "disabled_at": _STAMP,
            "disabled_reason": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"}}},
    "WebhookEndpointCreated": {
        "allOf": [_ref("WebhookEndpoint"),
                  {"type": "object", "required": ["secret"],
                   "properties": {"secret": {"type": "string", "pattern": "^whsec_"}}}]},
    "WebhookSecret": {"type": "object", "required": ["secret"],
                      "properties": {"secret": {"type": "string", "pattern": "^whsec_"}}},
    "WebhookEvent": {
        "description": ("The body POSTed to an endpoint, with the Standard Webhooks headers "
                        "webhook-id, webhook-timestamp and webhook-signature (v1,<base64 "
                        "HMAC-SHA256 of id.timestamp.body>). See docs/webhooks.md."),
        "type": "object", "required": ["type", "timestamp", "data"],
        "properties": {
            "type": {"type": "string", "enum": list(webhooks.EVENT_TYPES)},
            "timestamp": {"type": "string", "format": "date-time"},
            "data": {"type": "object", "properties": {
                "document_id": {"type": "string"},
                "recipient": {"type": ["string", "null"],
                              "description": "Your external id of the recipient"},
                "occurred_at": {"type": "string", "format": "date-time"}}}}},
}
