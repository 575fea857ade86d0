"""The ``api`` blueprint's OpenAPI fragment: its paths and schemas (see web/api/__init__.py)."""
from __future__ import annotations

from typing import Any

from postbox.batches import MAX_ITEMS, MAX_PAGE
from postbox.models import ROLES
from postbox.tracking import STATUSES
from web.api.openapi import problem_responses

ID = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
EXTERNAL_ID = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"}
TIME = {"type": "string", "format": "date-time"}
KEY = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[\\x21-\\x7e]+$"}
JSON = "application/json"
BATCH_STATES = ["open", "closed", "delivered", "cancelled"]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "null"}]}


def obj(required: list[str], additional: bool = False, **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props,
            "additionalProperties": additional}


def ok(description: str, schema: dict[str, Any] | None = None, media: str = JSON,
       headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if schema is not None:
        response["content"] = {media: {"schema": schema}}
    if headers:
        response["headers"] = headers
    return response


def op(summary: str, responses: dict[str, Any], problems: tuple[int, ...], *,
       roles: str, body: dict[str, Any] | None = None,
       params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "description": f"Roles: {roles}.",
                                 "responses": {**responses, **problem_responses(*problems)}}
    if body is not None:
        operation["requestBody"] = body
    if params:
        operation["parameters"] = params
    return operation


def path_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def json_body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": ref(name)}}}


def multipart(properties: dict[str, Any], required: list[str], encoding: dict[str, Any],
              description: str) -> dict[str, Any]:
    return {"required": True, "description": description, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": required, "properties": properties},
        "encoding": encoding}}}


IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header",
               "description": "Same key and same body: the first result again; same key, "
                              "other body: 409.", "schema": KEY}
BATCH = path_param("batch_id", ID)
PDF = {"type": "string", "format": "binary"}
SENDER = "sender, admin"
READER = "sender, compliance, admin"

SCHEMAS: dict[str, Any] = {
    "InviteRequest": obj(["external_id", "email"], external_id=EXTERNAL_ID,
                         email={"type": "string", "maxLength": 254}),
    "Invitation": obj(["recipient_id", "external_id", "linked_existing", "activation_code"],
                      recipient_id=ID, external_id=EXTERNAL_ID,
                      linked_existing={"type": "boolean"},
                      activation_code=nullable({"type": "string"})),
    "Reachability": obj(["external_id", "reachability"], external_id=EXTERNAL_ID,
                        reachability={"enum": ["active", "invited", "bouncing", "unknown"]}),
    "ReachabilityRequest": obj(["external_ids"], external_ids={
        "type": "array", "minItems": 1, "maxItems": 1000, "items": EXTERNAL_ID}),
    "ReachabilityResults": obj(["results"], results={"type": "array",
                                                     "items": ref("Reachability")}),
    "DocumentMetadata": obj(
        ["recipient", "subject"], recipient=EXTERNAL_ID,
        subject={"type": "string", "minLength": 1, "maxLength": 200},
        case={"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,127}$"},
        automated={"type": "boolean"}, due_date={"type": "string", "format": "date"},
        filename={"type": "string", "minLength": 1, "maxLength": 200}),
    "DeliveryReceipt": obj(["id", "status", "ciphertext_sha256", "size", "submitted_at",
                            "replayed"], id=ID, status={"enum": list(STATUSES)},
                           ciphertext_sha256={"type": "string"}, size={"type": "integer"},
                           submitted_at=TIME, replayed={"type": "boolean"}),
    "Evidence": obj(["id", "event", "time", "record_hash", "body"], id=ID,
                    event={"type": "string"}, time=TIME, record_hash={"type": "string"},
                    key_id=nullable({"type": "string"}),
                    body={"type": "string", "description": "canonical JSON (RFC 8785), the "
                                                          "signed bytes"},
                    signature=nullable({"type": "string", "contentEncoding": "base64"}),
                    countersignature=nullable({"type": "string", "contentEncoding": "base64"}),
                    leaf_index=nullable({"type": "integer"})),
    "DocumentStatus": obj(
        ["id", "status", "ciphertext_sha256", "size", "submitted_at", "evidence"], id=ID,
        recipient=nullable(EXTERNAL_ID), status={"enum": list(STATUSES)},
        batch_id=nullable(ID), case=nullable({"type": "string"}),
        automated={"type": "boolean"}, due_date=nullable({"type": "string", "format": "date"}),
        ciphertext_sha256={"type": "string"}, size={"type": "integer"}, submitted_at=TIME,
        consigned_at=nullable(TIME), retrieved_at=nullable(TIME),
        evidence={"type": "array", "items": ref("Evidence")}),
    "BatchCreate": obj([], reference={"type": "string", "minLength": 1, "maxLength": 200},
                       deliver_to_invited={"type": "boolean"},
                       max_items={"type": "integer", "minimum": 1, "maximum": MAX_ITEMS}),
    "Batch": obj(
        ["id", "state", "item_count", "max_items", "pending", "counts", "created_at"], id=ID,
        reference=nullable({"type": "string"}), state={"enum": BATCH_STATES},
        deliver_to_invited={"type": "boolean"}, max_items={"type": "integer"},
        item_count={"type": "integer"},
        pending={"type": "integer", "description": "items still to consign or cancel"},
        counts={"type": "object", "additionalProperties": {"type": "integer"},
                "description": "items per status"},
        held_cases={"type": "integer", "description": "distinct cases of the held items"},
        held_summary=nullable({"type": "string", "description":
                               "e.g. \"3 held for review in 2 cases\": waiting, not failed"}),
        created_at=TIME, closed_at=nullable(TIME), delivered_at=nullable(TIME),
        cancelled_at=nullable(TIME), replayed={"type": "boolean"}),
    "ItemMetadata": {**obj(
        ["key", "recipient", "subject"], key=KEY, recipient=EXTERNAL_ID,
        subject={"type": "string", "minLength": 1, "maxLength": 200},
        case={"type": "string"}, automated={"type": "boolean"},
        due_date={"type": "string", "format": "date"},
        filename={"type": "string", "minLength": 1, "maxLength": 200},
        client_ref={"type": "string", "maxLength": 200}),
        "description": "key: idempotent within the batch; client_ref: yours (e.g. a line)"},
    "ItemOutcome": obj(["index", "key", "seq", "status", "reason", "document_id", "replayed",
                        "problem"], index={"type": "integer"}, key=nullable({"type": "string"}),
                       seq=nullable({"type": "integer"}),
                       status=nullable({"enum": list(STATUSES)}),
                       reason=nullable({"type": "string"}), document_id=nullable(ID),
                       replayed={"type": "boolean"}, problem=nullable(ref("Problem"))),
    "ItemOutcomes": obj(["batch_id", "items"], batch_id=ID,
                        items={"type": "array", "items": ref("ItemOutcome")}),
    "Item": obj(["seq", "key", "recipient", "status", "created_at", "updated_at"],
                seq={"type": "integer"}, key={"type": "string"},
                client_ref=nullable({"type": "string"}), recipient={"type": "string"},
                status={"enum": list(STATUSES)}, reason=nullable({"type": "string"}),
                document_id=nullable(ID), created_at=TIME, updated_at=TIME),
    "ItemPage": obj(["items", "next_after"], items={"type": "array", "items": ref("Item")},
                    next_after=nullable({"type": "integer"})),
    "Token": obj(["id", "role", "created_at"], id=ID, role={"enum": list(ROLES)},
                 label=nullable({"type": "string"}), created_at=TIME,
                 last_used_at=nullable(TIME), revoked_at=nullable(TIME)),
    "TokenList": obj(["tokens"], tokens={"type": "array", "items": ref("Token")}),
    "TokenCreate": obj(["role"], role={"enum": list(ROLES)},
                       label={"type": "string", "minLength": 1, "maxLength": 200}),
    "NewToken": obj(["id", "role", "token"], id=ID, role={"enum": list(ROLES)},
                    label=nullable({"type": "string"}),
                    token={"type": "string", "description": "shown once; stored hashed"}),
}

PATHS: dict[str, Any] = {
    "/openapi.json": {"get": {"summary": "This document", "security": [],
                              "responses": {"200": ok("OpenAPI 3.1", {"type": "object"})}}},
    "/recipients": {"post": op(
        "Invite a recipient", {
            "201": {"description": "Invited: the activation code as JSON, or with "
                                   "`Accept: application/pdf` the letter to print",
                    "content": {JSON: {"schema": ref("Invitation")},
                                "application/pdf": {"schema": PDF}}},
            "200": ok("An existing postbox was linked; no code is needed",
                      ref("Invitation"))},
        (400, 403, 409, 413, 415), roles=SENDER, body=json_body("InviteRequest"))},
    "/recipients/reachability": {"post": op(
        "Reachability of up to 1,000 recipients",
        {"200": ok("In the order asked", ref("ReachabilityResults"))},
        (400, 403, 413, 415), roles=SENDER, body=json_body("ReachabilityRequest"))},
    "/recipients/{external_id}/reachability": {"get": op(
        "Reachability of one recipient", {"200": ok("active, invited, bouncing or unknown",
                                                    ref("Reachability"))},
        (400, 403), roles=SENDER, params=[path_param("external_id", EXTERNAL_ID)])},
    "/documents": {"post": op(
        "Deliver one document", {
            "201": ok("Accepted and consigned", ref("DeliveryReceipt"),
                      headers={"Location": {"schema": {"type": "string"}}}),
            "200": ok("A repeat of an earlier request with this key (nothing was sent again)",
                      ref("DeliveryReceipt"))},
        (400, 403, 404, 409, 413, 415, 503), roles=SENDER, params=[{**IDEMPOTENCY,
                                                                    "required": True}],
        body=multipart({"metadata": ref("DocumentMetadata"), "file": PDF},
                       ["metadata", "file"],
                       {"metadata": {"contentType": JSON},
                        "file": {"contentType": "application/pdf"}},
                       "A part `metadata` (JSON) and a part `file` (the PDF); metadata first "
                       "lets the file stream straight through"))},
    "/documents/{document_id}": {"get": op(
        "Status and evidence of a document", {"200": ok("Status", ref("DocumentStatus"))},
        (403, 404), roles=READER, params=[path_param("document_id", ID)])},
    "/batches": {"post": op(
        "Create a batch", {"201": ok("Created, open for items", ref("Batch")),
                           "200": ok("A repeat with the same Idempotency-Key", ref("Batch"))},
        (400, 403, 409, 413, 415), roles=SENDER, params=[IDEMPOTENCY],
        body=json_body("BatchCreate"))},
    "/batches/{batch_id}": {"get": op(
        "Batch status with counts per item status", {"200": ok("Status", ref("Batch"))},
        (403, 404), roles=READER, params=[BATCH])},
    "/batches/{batch_id}/items": {
        "post": op(
            "Add items (many per request, streamed)",
            {"200": ok("One outcome per item, in order", ref("ItemOutcomes"))},
            (400, 403, 404, 409, 413, 415, 503), roles=SENDER, params=[BATCH],
            body=multipart({"item": {"type": "array", "items": ref("ItemMetadata")},
                            "file": {"type": "array", "items": PDF}}, ["item", "file"],
                           {"item": {"contentType": JSON},
                            "file": {"contentType": "application/pdf"}},
                           "Parts alternate: `item` (JSON metadata with its key), then its "
                           "`file`; up to API_MAX_ITEMS_PER_REQUEST (1,000) items")),
        "get": op(
            "Items in order, paginated", {"200": ok("A page", ref("ItemPage"))},
            (400, 403, 404), roles=READER, params=[
                BATCH,
                {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0,
                                                            "maximum": 2**31 - 1}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                            "maximum": MAX_PAGE}},
                {"name": "status", "in": "query", "schema": {"enum": list(STATUSES)}}])},
    "/batches/{batch_id}/close": {"post": op(
        "Close the batch and deliver", {
            "200": ok("Delivered (or was already)", ref("Batch")),
            "202": ok("Delivery under way; call again or let the worker finish", ref("Batch"))},
        (403, 404, 409), roles=SENDER, params=[BATCH])},
    "/batches/{batch_id}/cancel": {"post": op(
        "Cancel: nothing not yet consigned is delivered", {
            "200": ok("Cancelled", ref("Batch")),
            "202": ok("Cancelling under way; call again or let the worker finish",
                      ref("Batch"))},
        (403, 404, 409), roles=SENDER, params=[BATCH])},
    "/batches/{batch_id}/report.csv": {"get": op(
        "Result report, one row per item",
        {"200": ok("CSV (cells that a spreadsheet would run as a formula start with ')",
                   {"type": "string"}, media="text/csv")},
        (403, 404), roles=READER, params=[BATCH])},
    "/batches/{batch_id}/items/{seq}/print": {"post": op(
        "Print-ready PDF of an unreachable item (cover page, then the document)",
        {"200": ok("The PDF", PDF, media="application/pdf")},
        (400, 403, 404, 409, 413, 415), roles=SENDER,
        params=[BATCH, path_param("seq", {"type": "integer", "minimum": 0,
                                          "maximum": 2**31 - 1})],
        body=multipart({"postal_address": {"type": "string", "maxLength": 400}, "file": PDF},
                       ["file"], {"file": {"contentType": "application/pdf"}},
                       "The document exactly as submitted (nothing of it was kept), and "
                       "optionally the postal address (lines) for the window envelope"))},
    "/tokens": {
        "get": op("The organisation's API tokens", {"200": ok("Tokens", ref("TokenList"))},
                  (403,), roles="admin"),
        "post": op("Create a token (its value is shown once)",
                   {"201": ok("Created", ref("NewToken"))}, (400, 403, 413, 415),
                   roles="admin", body=json_body("TokenCreate"))},
    "/tokens/{token_id}": {"delete": op(
        "Revoke a token", {"204": {"description": "Revoked"}}, (403, 404), roles="admin",
        params=[path_param("token_id", ID)])},
}

REFERENCE = {"type": "string", "minLength": 1, "maxLength": 200,
             "description": "the case reference given at delivery (URL-encode / and #)"}
CASE = path_param("reference", REFERENCE)
SCHEMAS.update({
    "SealedReply": obj(
        ["id", "org_id", "document_id", "case", "kind", "created_at", "ciphertext_sha256"],
        id=ID, org_id=ID, document_id=ID, case=nullable({"type": "string"}),
        kind={"enum": ["reply", "dispute"]}, created_at=TIME,
        ciphertext_sha256={"type": "string", "pattern": "^[0-9a-f]{64}$"}),
    "ReplyList": obj(["replies"], replies={"type": "array", "items": ref("SealedReply")}),
    "ReplyAck": obj(["ids"], ids={"type": "array", "minItems": 1, "maxItems": 1000,
                                  "items": ID}),
    "ReplyAckResult": obj(["acknowledged"], acknowledged={
        "type": "integer", "minimum": 0,
        "description": "replies newly acknowledged (others' ids and repeats are skipped)"}),
    "HeldCase": obj(["reference", "hold_since", "held_items", "replies"],
                    reference={"type": "string"}, hold_since=nullable(TIME),
                    held_items={"type": "integer"}, replies={"type": "integer"}),
    "HeldCases": obj(["cases"], cases={"type": "array", "items": ref("HeldCase")}),
    "CaseActionRequest": obj(["by"], by={
        "type": "string", "minLength": 1, "maxLength": 200,
        "description": "the person at the organisation who decides (recorded in evidence)"}),
    "CaseAction": obj(["reference", "action", "document_ids"], reference={"type": "string"},
                      action={"enum": ["hold", "release", "cancel"]},
                      document_ids={"type": "array", "items": ID,
                                    "description": "released or cancelled, in order"}),
})


def case_action(summary: str, answer: str) -> dict[str, Any]:
    return {"post": op(summary, {"200": ok(answer, ref("CaseAction"))}, (400, 403, 404, 413, 415),
                       roles=SENDER, params=[CASE], body=json_body("CaseActionRequest"))}


PATHS.update({
    "/replies": {"get": op(
        "Sealed replies from recipients, oldest first",
        {"200": ok("Metadata; fetch each one's content and open it with the organisation key "
                   "(docs/replies.md)", ref("ReplyList"))},
        (400, 403), roles=READER, params=[
            {"name": "all", "in": "query", "description": "1: acknowledged ones too",
             "schema": {"enum": ["0", "1"]}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                        "maximum": 1000}}])},
    "/replies/{reply_id}/content": {"get": op(
        "The sealed reply (sealed-document format, to the organisation's X25519 key)",
        {"200": ok("The sealed bytes", PDF, media="application/octet-stream")},
        (403, 404, 503), roles=SENDER, params=[path_param("reply_id", ID)])},
    "/replies/ack": {"post": op(
        "Acknowledge fetched replies (they leave the default list)",
        {"200": ok("How many were newly acknowledged", ref("ReplyAckResult"))},
        (400, 403, 413, 415), roles=SENDER, body=json_body("ReplyAck"))},
    "/cases/held": {"get": op(
        "Cases on hold, oldest first", {"200": ok("The holds queue", ref("HeldCases"))},
        (403,), roles=READER)},
    "/cases/{reference}/hold": case_action(
        "Put a case on hold by hand (automated deliveries in it are held)", "On hold"),
    "/cases/{reference}/release": case_action(
        "Release: consign the held items in order, exactly once; the case reopens",
        "The released documents"),
    "/cases/{reference}/cancel": case_action(
        "Cancel the held items (they are discarded; the case stays on hold)",
        "The cancelled documents"),
})
