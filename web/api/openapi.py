"""The OpenAPI 3.1 document, merged from the fragments of every /api/v1 blueprint.

See ``web/api/__init__.py`` for the mechanism. The shared parts live here: the ``Problem``
schema, the bearer security scheme and :func:`problem_responses` for fragments to reuse.
"""
from __future__ import annotations

import re
from typing import Any

from flask import Flask, Response, current_app, jsonify

from web.api import bp
from web.api.problems import KINDS, MEDIA_TYPE, TYPE_PREFIX

SERVER = "/api/v1"
_RULE_ARG = re.compile(r"<(?:[a-z_]+(?:\([^)]*\))?:)?([A-Za-z_][A-Za-z0-9_]*)>")

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details. `type` is stable per error kind: "
                   + ", ".join(f"`{TYPE_PREFIX}{k}` ({s})" for k, (s, _) in KINDS.items()),
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "pattern": f"^{TYPE_PREFIX}[a-z0-9-]+$"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "additionalProperties": True,
}
STATUS_TEXT = {
    400: "Malformed request or invalid field", 401: "Missing, unknown or revoked token",
    403: "The token's role may not do this", 404: "Not found (or not this organisation's)",
    405: "Method not allowed", 409: "Conflicts with the current state",
    413: "Too large (refused before the body is read)", 415: "Unsupported media or document type",
    429: "Rate limited; see Retry-After", 503: "Storage unavailable; retry later",
}


def problem_responses(*statuses: int) -> dict[str, Any]:
    """Problem responses for these statuses, plus 401, 429 and a problem ``default``."""
    wanted = sorted({*statuses, 401, 429})
    out: dict[str, Any] = {}
    for status in wanted:
        response: dict[str, Any] = {
            "description": STATUS_TEXT.get(status, "Problem"),
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        if status == 429:
            response["headers"] = {"Retry-After": {
                "required": True, "description": "Seconds to wait",
                "schema": {"type": "integer", "minimum": 1}}}
        out[str(status)] = response
    out["default"] = {"description": "Any other problem",
                      "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    return out


def openapi_path(rule: str) -> str | None:
    """The OpenAPI path of a Flask rule under /api/v1 (None for rules elsewhere)."""
    if rule != SERVER and not rule.startswith(SERVER + "/"):
        return None
    return _RULE_ARG.sub(r"{\1}", rule[len(SERVER):]) or "/"


def build(app: Flask) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    for blueprint in app.blueprints.values():
        for path, item in (getattr(blueprint, "openapi_paths", None) or {}).items():
            if path in paths:
                raise ValueError(f"OpenAPI path {path} is documented twice")
            paths[path] = item
        for name, schema in (getattr(blueprint, "openapi_schemas", None) or {}).items():
            if name in schemas and schemas[name] != schema:
                raise ValueError(f"OpenAPI schema {name} is defined twice")
            schemas[name] = schema
    return {
        "openapi": "3.1.0",
        "info": {"title": "Postbox sender API", "version": "1.0.0",
                 "description": "Deliver documents to recipients' secure postboxes, one by one "
                                "or in batches of up to 100,000, and follow their evidence."},
        "servers": [{"url": SERVER}],
        "security": [{"bearer": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An organisation's API token "
                                                          "(pbx_...), one role each"}},
        },
    }


@bp.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(build(current_app))
