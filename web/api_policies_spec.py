"""The OpenAPI fragment of web/api_policies.py: escalation policies and the print queue."""
from __future__ import annotations

from typing import Any

from postbox.escalation_policy import KINDS, MAX_DAYS, MAX_STEPS


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


_PROBLEM = {"content": {"application/problem+json": {"schema": _ref("Problem")}}}
_ERRORS = {"400": {"description": "Invalid input", **_PROBLEM},
           "401": {"description": "No valid token", **_PROBLEM},
           "403": {"description": "The token's role may not do that", **_PROBLEM},
           "404": {"description": "Not found", **_PROBLEM},
           "429": {"description": "Too many requests for this token", **_PROBLEM},
           "default": {"description": "Problem details", **_PROBLEM}}
_CONFLICT = {"409": {"description": "Conflicts with the current state", **_PROBLEM}}
_TAG = ["escalation"]


def _param(name: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}]


def _op(op_id: str, summary: str, ok: dict[str, Any], body: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": op_id, "tags": _TAG, "summary": summary,
                          "responses": {**ok, **(extra or {}), **_ERRORS}}
    if body is not None:
        op["requestBody"] = {"required": True, **body}
    return op


_ONE_POLICY = {"200": {"description": "The policy", **_json(_ref("EscalationPolicy"))}}
_PROGRESS = {"200": {"description": "Where the document stands",
                     **_json(_ref("EscalationProgress"))}}
_ENTRY = {"200": {"description": "The entry", **_json(_ref("PrintQueueEntry"))}}
_BY = _json({"type": "object", "required": ["by"],
             "properties": {"by": {"type": "string", "maxLength": 200},
                            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}})

PATHS: dict[str, Any] = {
    "/policies": {"get": _op(
        "listEscalationPolicies", "The organisation's escalation policies",
        {"200": {"description": "Policies", **_json({
            "type": "object", "required": ["items"],
            "properties": {"items": {"type": "array", "items": _ref("EscalationPolicy")}}})}})},
    "/policies/{name}": {
        "parameters": _param("name"),
        "get": _op("getEscalationPolicy", "One named policy", _ONE_POLICY),
        "put": _op("putEscalationPolicy", "Create or replace a named policy ('default' applies "
                   "to every arrival)", _ONE_POLICY,
                   _json({"type": "object", "required": ["steps"],
                          "properties": {"steps": _ref("EscalationSteps")}})),
        "delete": _op("deleteEscalationPolicy", "Remove a named policy",
                      {"204": {"description": "Removed"}}),
    },
    "/policies/documents/{document_id}": {
        "parameters": _param("document_id"),
        "get": _op("getDocumentEscalation", "A document's escalation progress", _PROGRESS),
        "put": _op("putDocumentEscalation", "Give one delivered, unread document its own policy",
                   _PROGRESS, _json({"type": "object", "properties": {
                       "policy": {"type": "string"}, "steps": _ref("EscalationSteps")}}),
                   _CONFLICT),
    },
    "/policies/dry-run": {"post": _op(
        "dryRunEscalation", "How many items each step would reach (changes nothing)",
        {"200": {"description": "Counts", **_json(_ref("EscalationDryRun"))}},
        _json({"type": "object", "properties": {
            "batch": {"type": "string"},
            "recipients": {"type": "array", "items": {"type": "string"}, "maxItems": 10000},
            "policy": {"type": "string"}, "steps": _ref("EscalationSteps")}}))},
    "/print-queue": {"get": {
        **_op("listPrintQueue", "Letters a print step handed to you, oldest first",
              {"200": {"description": "Entries", **_json({
                  "type": "object", "required": ["items"],
                  "properties": {"items": {"type": "array",
                                           "items": _ref("PrintQueueEntry")}}})}}),
        "parameters": [
            {"name": "state", "in": "query", "schema": {
                "type": "string", "enum": ["queued", "printed", "dismissed", "all"]}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                        "maximum": 1000}}]}},
    "/print-queue/{entry_id}": {"parameters": _param("entry_id"),
                                "get": _op("getPrintQueueEntry", "One entry", _ENTRY)},
    "/print-queue/{entry_id}/printed": {
        "parameters": _param("entry_id"),
        "post": _op("markPrinted", "The letter went on paper", _ENTRY, _BY, _CONFLICT)},
    "/print-queue/{entry_id}/dismiss": {
        "parameters": _param("entry_id"),
        "post": _op("dismissPrint", "Give up on paper (records notice_failed, channel paper)",
                    _ENTRY, _json({"type": "object", "required": ["by", "reason"],
                                   "properties": {"by": {"type": "string"},
                                                  "reason": {"type": "string"}}}),
                    _CONFLICT)},
    "/print-queue/{entry_id}/pdf": {
        "parameters": _param("entry_id"),
        "post": _op("printQueuePdf", "Cover page + your copy, checked against what was delivered",
                    {"200": {"description": "The print-ready PDF",
                             "content": {"application/pdf": {"schema": {
                                 "type": "string", "format": "binary"}}}}},
                    {"content": {"multipart/form-data": {"schema": {
                        "type": "object", "required": ["file", "subject"],
                        "properties": {"file": {"type": "string", "format": "binary"},
                                       "subject": {"type": "string"},
                                       "filename": {"type": "string"},
                                       "postal_address": {"type": "string"}}}}}},
                    _CONFLICT)},
}

_STAMP = {"type": ["string", "null"], "format": "date-time"}
SCHEMAS: dict[str, Any] = {
    "EscalationSteps": {
        "type": "array", "minItems": 1, "maxItems": MAX_STEPS,
        "items": {"type": "object", "required": ["day", "kind"],
                  "properties": {"day": {"type": "integer", "minimum": 0, "maximum": MAX_DAYS},
                                 "kind": {"type": "string", "enum": list(KINDS)}}}},
    "EscalationPolicy": {"type": "object", "required": ["name", "steps"],
                         "properties": {"name": {"type": "string"},
                                        "steps": _ref("EscalationSteps")}},
    "EscalationProgress": {
        "type": "object", "required": ["document_id", "policy", "steps", "state"],
        "properties": {"document_id": {"type": "string"}, "policy": {"type": "string"},
                       "steps": _ref("EscalationSteps"), "next_step": {"type": "integer"},
                       "state": {"type": "string", "enum": ["active", "read", "done", "gone"]},
                       "next_at": _STAMP}},
    "EscalationDryRun": {
        "type": "object",
        "required": ["policy", "items", "unreachable", "read", "paused", "other", "steps"],
        "properties": {
            "policy": _ref("EscalationPolicy"),
            **{k: {"type": "integer"} for k in ("items", "unreachable", "read", "paused",
                                                 "other")},
            "steps": {"type": "array", "items": {
                "type": "object", "required": ["day", "kind", "reach", "notice_failed"],
                "properties": {"day": {"type": "integer"}, "kind": {"type": "string"},
                               "reach": {"type": "integer"},
                               "notice_failed": {"type": "integer"}}}}}},
    "PrintQueueEntry": {
        "type": "object", "required": ["id", "document_id", "step_day", "reason", "state"],
        "properties": {
            "id": {"type": "string"}, "document_id": {"type": "string"},
            "recipient": {"type": ["string", "null"]}, "step_day": {"type": "integer"},
            "reason": {"type": "string", "enum": ["unread", "notice-failed"]},
            "state": {"type": "string", "enum": ["queued", "printed", "dismissed"]},
            "created_at": _STAMP, "consigned_at": _STAMP,
            "printable": {"type": "boolean",
                          "description": "A fingerprint exists, so /pdf can check your copy"},
            "printed_at": _STAMP, "printed_by": {"type": ["string", "null"]}}},
}
