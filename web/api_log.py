"""Public read endpoints of the evidence log, witness cosignatures, and proof bundle export.

Wiring (``web.create_app``, or a test's own Flask app)::

    from web.api_log import register_log_api
    register_log_api(app, pb)

- ``GET /api/v1/log/checkpoint`` — the latest checkpoint (C2SP signed note, text/plain) with
  every witness cosignature; ``?size=N`` for an earlier one.
- ``GET /api/v1/log/trust`` — the trust file (keys and validity periods).
- ``GET /api/v1/log/proof/inclusion?index=I[&size=N]`` — RFC 9162 inclusion proof (JSON, or
  C2SP tlog-proof text with ``format=tlog-proof``).
- ``GET /api/v1/log/proof/consistency?first=M[&second=N]`` — RFC 9162 consistency proof.
- ``POST /api/v1/log/cosignature`` — a witness posts the checkpoint with its cosignature line.
- ``POST /api/v1/proofs/export`` — bearer token with role ``compliance``: a proof bundle (zip,
  streamed) for one of the organisation's documents, batches, recipients, or a period.

The log endpoints are public: proofs reveal hashes only. Errors are RFC 9457 problem details
with the same ``type`` URIs as the sender API.
"""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request, stream_with_context
from werkzeug.exceptions import HTTPException

from crypto.merkle import ProofError
from postbox import checkpoints, cosignatures, log, orgs, trust
from postbox.bootstrap import Postbox
from postbox.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PostboxError,
)
from postbox.proofs import export

bp = Blueprint("log_api", __name__, url_prefix="/api/v1")
EXTENSION = "postbox.log"
TYPE_PREFIX = "urn:postbox:problem:"
MAX_COSIGNATURE_BYTES = 64 * 1024
_STATUS = {"invalid-input": 400, "unauthorized": 401, "forbidden": 403, "not-found": 404,
           "conflict": 409, "request-too-large": 413, "unsupported-media-type": 415,
           "config": 500, "error": 500}
_TITLES = {"invalid-input": "The request has an invalid field",
           "unauthorized": "A valid bearer token is required",
           "forbidden": "This token's role may not do that", "not-found": "Not found",
           "conflict": "The request conflicts with the current state",
           "request-too-large": "The request body is too large",
           "unsupported-media-type": "The request body has an unsupported media type",
           "config": "The service is misconfigured", "error": "Internal error"}


class Problem(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.detail = kind, detail


def _problem(kind: str, detail: str) -> Response:
    status = _STATUS.get(kind, 500)
    body = {"type": TYPE_PREFIX + kind, "title": _TITLES.get(kind, _TITLES["error"]),
            "status": status, "detail": detail}
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="postbox"'
    return response


@bp.errorhandler(Problem)
def _on_problem(exc: Problem) -> Response:
    return _problem(exc.kind, exc.detail)


@bp.errorhandler(PostboxError)
def _on_domain(exc: PostboxError) -> Response:
    for cls, kind in ((AuthenticationFailed, "unauthorized"), (NotFound, "not-found"),
                      (InvalidInput, "invalid-input"), (Conflict, "conflict")):
        if isinstance(exc, cls):
            return _problem(kind, str(exc))
    return _problem(exc.kind if exc.kind in _STATUS else "error", str(exc))


@bp.errorhandler(HTTPException)
def _on_http(exc: HTTPException) -> Response:
    kind = {400: "invalid-input", 401: "unauthorized", 403: "forbidden", 404: "not-found",
            413: "request-too-large", 415: "unsupported-media-type"}.get(exc.code or 500,
                                                                         "error")
    return _problem(kind, exc.description or kind)


def _pb() -> Postbox:
    pb: Postbox = current_app.extensions[EXTENSION]
    return pb


def _int_arg(name: str, default: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        if default is None:
            raise Problem("invalid-input", f"the query parameter {name} is required")
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:  # not "²", which int() refuses
        raise Problem("invalid-input", f"{name} must be a non-negative integer")
    return int(raw)


def _latest_size(pb: Postbox) -> int:
    latest = checkpoints.latest(pb)
    if latest is None:
        raise Problem("not-found", "the log has no checkpoint yet")
    return latest.size


def _text(data: bytes) -> Response:
    return Response(data, mimetype="text/plain", headers={"Cache-Control": "no-store"})


@bp.get("/log/checkpoint")
def get_checkpoint() -> Response:
    pb = _pb()
    signed = (checkpoints.at_size(pb, _int_arg("size")) if "size" in request.args
              else checkpoints.latest(pb))
    if signed is None:
        raise Problem("not-found", "no such checkpoint")
    return _text(signed.note)


@bp.get("/log/trust")
def get_trust() -> Response:
    return Response(trust.trust_document(_pb()), mimetype="application/json")


@bp.get("/log/proof/inclusion")
def get_inclusion() -> Response:
    pb = _pb()
    index = _int_arg("index")
    size = _int_arg("size", _latest_size(pb) if "size" not in request.args else None)
    try:
        proof = log.inclusion_proof(pb, index, size)
    except ProofError as exc:
        raise Problem("invalid-input", str(exc)) from None
    if request.args.get("format") == "tlog-proof":
        signed = checkpoints.at_size(pb, size)
        if signed is None:
            raise Problem("not-found", f"no checkpoint of size {size}; omit size for the latest")
        lines = ["c2sp.org/tlog-proof@v1", f"index {index}",
                 *(base64.b64encode(h).decode() for h in proof)]
        return _text(("\n".join(lines) + "\n\n").encode() + signed.note)
    return _json({"index": index, "tree_size": size,
                  "proof": [base64.b64encode(h).decode() for h in proof]})


@bp.get("/log/proof/consistency")
def get_consistency() -> Response:
    pb = _pb()
    first = _int_arg("first")
    second = _int_arg("second", _latest_size(pb) if "second" not in request.args else None)
    try:
        proof = log.consistency_proof(pb, first, second)
    except ProofError as exc:
        raise Problem("invalid-input", str(exc)) from None
    return _json({"first": first, "second": second,
                  "proof": [base64.b64encode(h).decode() for h in proof]})


@bp.post("/log/cosignature")
def post_cosignature() -> Response:
    if (request.content_length or 0) > MAX_COSIGNATURE_BYTES:
        raise Problem("request-too-large", "a cosignature note is at most 64 KiB")
    if request.mimetype not in ("text/plain", ""):
        raise Problem("unsupported-media-type", "send the note as text/plain")
    note = request.stream.read(MAX_COSIGNATURE_BYTES + 1)
    if len(note) > MAX_COSIGNATURE_BYTES:
        raise Problem("request-too-large", "a cosignature note is at most 64 KiB")
    size, accepted = cosignatures.add_cosignatures(_pb(), note)
    return _json({"size": size, "accepted": accepted})


def _bearer(pb: Postbox, role: str) -> orgs.TokenIdentity:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    identity = orgs.resolve_token(pb, token.strip()) if scheme.lower() == "bearer" else None
    if identity is None:
        raise Problem("unauthorized", "a valid bearer token is required")
    if identity.role != role:
        raise Problem("forbidden", f"exporting proofs needs a token with role {role}")
    return identity


def _time(body: dict[str, Any], name: str) -> datetime | None:
    raw = body.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise Problem("invalid-input", f"{name} must be an RFC 3339 time") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@bp.post("/proofs/export")
def post_export() -> Response:
    pb = _pb()
    identity = _bearer(pb, "compliance")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Problem("invalid-input", "send a JSON object naming what to export")
    unknown = set(body) - {"document_id", "batch_id", "recipient", "since", "until"}
    if unknown:
        raise Problem("invalid-input", f"unknown fields: {', '.join(sorted(unknown))}")
    for name in ("document_id", "batch_id", "recipient"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise Problem("invalid-input", f"{name} must be a string")
    if all(body.get(name) is None for name in ("document_id", "batch_id", "recipient",
                                               "since", "until")):
        raise Problem("invalid-input", "name at least one of document_id, batch_id, "
                                       "recipient, since, until")
    selection = export.select_evidence(
        pb, document=body.get("document_id"), batch=body.get("batch_id"),
        recipient=body.get("recipient"), since=_time(body, "since"),
        until=_time(body, "until"), org=identity.org_id)
    stream = export.BundleStream(pb, selection, None)  # errors surface before streaming
    name = f"proof-{selection.kind}-{pb.clock.now():%Y%m%dT%H%M%SZ}.zip"
    return Response(stream_with_context(iter(stream)), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "X-Checkpoint-Size": str(stream.checkpoint.size),
                             "X-Cosigned-By": ",".join(stream.checkpoint.witnesses) or "-"})


def _json(doc: Any) -> Response:
    return Response(json.dumps(doc), mimetype="application/json")


def register_log_api(app: Flask, pb: Postbox | None = None) -> None:
    """Mount the log endpoints on ``app`` (no cookies, so no CSRF); ``pb`` defaults to the
    app's Postbox."""
    if bp.name in app.blueprints:  # create_app already mounted it
        return
    pb = pb or app.extensions["postbox"]
    app.extensions[EXTENSION] = pb
    app.register_blueprint(bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)


_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _responses(ok: dict[str, Any], *statuses: int) -> dict[str, Any]:
    out = {"200": ok}
    for status in statuses:
        out[str(status)] = {"description": _TITLES[next(k for k, v in _STATUS.items()
                                                         if v == status)],
                            "content": {"application/problem+json": {"schema": _PROBLEM_REF}}}
    return out


def _query(name: str, required: bool, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": {"type": "integer", "minimum": 0}}


_TEXT = {"text/plain": {"schema": {"type": "string"}}}
_PROOF = {"application/json": {"schema": {"$ref": "#/components/schemas/LogProof"}}}
bp.openapi_paths = {  # type: ignore[attr-defined]
    "/log/checkpoint": {"get": {
        "summary": "The latest checkpoint of the evidence log, with witness cosignatures",
        "description": "A C2SP tlog-checkpoint signed note. Public.", "security": [],
        "parameters": [_query("size", False, "An earlier checkpoint by tree size")],
        "responses": _responses({"description": "Signed note", "content": _TEXT}, 400, 404)}},
    "/log/trust": {"get": {
        "summary": "The trust file: log key, evidence keys with validity periods, witnesses",
        "security": [],
        "responses": _responses({"description": "trust.json", "content": {
            "application/json": {"schema": {"type": "object"}}}})}},
    "/log/proof/inclusion": {"get": {
        "summary": "RFC 9162 inclusion proof of a leaf", "security": [],
        "parameters": [_query("index", True, "Leaf index"),
                       _query("size", False, "Tree size (default: latest checkpoint)"),
                       {"name": "format", "in": "query", "required": False,
                        "schema": {"type": "string", "enum": ["json", "tlog-proof"]}}],
        "responses": _responses({"description": "Proof", "content": {**_PROOF, **_TEXT}},
                                400, 404)}},
    "/log/proof/consistency": {"get": {
        "summary": "RFC 9162 consistency proof between two tree sizes", "security": [],
        "parameters": [_query("first", True, "Older tree size"),
                       _query("second", False, "Newer tree size (default: latest)")],
        "responses": _responses({"description": "Proof", "content": _PROOF}, 400, 404)}},
    "/log/cosignature": {"post": {
        "summary": "A witness posts its cosignature of a checkpoint", "security": [],
        "description": "Body: the checkpoint text, a blank line, cosignature/v1 lines.",
        "requestBody": {"required": True, "content": _TEXT},
        "responses": _responses({"description": "Accepted", "content": {"application/json": {
            "schema": {"type": "object", "properties": {
                "size": {"type": "integer"},
                "accepted": {"type": "array", "items": {"type": "string"}}}}}}},
            400, 409, 413, 415)}},
    "/proofs/export": {"post": {
        "summary": "Export a proof bundle (role compliance)",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "$ref": "#/components/schemas/ProofExport"}}}},
        "responses": _responses({"description": "The bundle (zip, streamed)", "content": {
            "application/zip": {"schema": {"type": "string", "format": "binary"}}}},
            400, 401, 403, 404)}},
}
bp.openapi_schemas = {  # type: ignore[attr-defined]
    "LogProof": {"type": "object", "properties": {
        "index": {"type": "integer"}, "tree_size": {"type": "integer"},
        "first": {"type": "integer"}, "second": {"type": "integer"},
        "proof": {"type": "array", "items": {"type": "string", "contentEncoding": "base64"}}}},
    "ProofExport": {"type": "object", "additionalProperties": False,
                    "description": "At least one of document_id, batch_id, recipient "
                                   "(external id), since, until; they combine (AND).",
                    "properties": {"document_id": {"type": "string"},
                                   "batch_id": {"type": "string"},
                                   "recipient": {"type": "string"},
                                   "since": {"type": "string", "format": "date-time"},
                                   "until": {"type": "string", "format": "date-time"}}},
}
