"""Escalation policies and the print queue in the sender API (bearer token).

``/api/v1/policies`` (named policies, a document's own policy, the dry run) and
``/api/v1/print-queue`` (letters a print step handed to the sender). Wiring, in the app
factory after the API::

    from web.api_policies import register_policies_api
    register_policies_api(app, pb)

Reads are open to sender, compliance and admin tokens; changes to sender and admin. Errors are
RFC 9457 problem details with ``type`` ``urn:postbox:problem:<kind>`` like the rest of /api/v1;
the blueprint carries its OpenAPI fragment (``openapi_paths``/``openapi_schemas``).
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any, BinaryIO, cast

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from postbox import escalation, escalation_dryrun, escalation_policy, print_queue
from postbox.bootstrap import Postbox
from web.api import access
from web.api.problems import ApiProblem
from web.api_policies_spec import PATHS, SCHEMAS

bp = Blueprint("api_policies", __name__, url_prefix="/api/v1")
EXTENSION = "postbox.api_policies"
READERS = ("admin", "sender", "compliance")
WRITERS = ("admin", "sender")


def _pb() -> Postbox:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


@bp.before_request
def _authenticate() -> None:
    dry_run = request.endpoint == "api_policies.dry_run"  # reads only, though it is a POST
    roles = READERS if dry_run or request.method in ("GET", "HEAD") else WRITERS
    g.policies_org = access.authenticate(roles, "do that").org_id


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiProblem("malformed-request", "send a JSON object (Content-Type: application/json)")
    return data


def _text(data: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ApiProblem("invalid-input", f"{name} must be a string")
    return value


# -- policies ------------------------------------------------------------------------------------

@bp.get("/policies")
def list_policies() -> Response:
    items = escalation_policy.list_policies(_pb(), g.policies_org)
    return jsonify({"items": [p.as_json() for p in items]})


@bp.get("/policies/<name>")
def get_policy(name: str) -> Response:
    return jsonify(escalation_policy.get_policy(_pb(), g.policies_org, name).as_json())


@bp.put("/policies/<name>")
def put_policy(name: str) -> Response:
    data = _body()
    if "steps" not in data:
        raise ApiProblem("invalid-input", 'send {"steps": [{"day": 3, "kind": "reminder"}, ...]}')
    return jsonify(escalation_policy.set_policy(_pb(), g.policies_org, name,
                                                data["steps"]).as_json())


@bp.delete("/policies/<name>")
def delete_policy(name: str) -> tuple[str, int]:
    escalation_policy.delete_policy(_pb(), g.policies_org, name)
    return "", 204


def _progress(p: escalation.Progress) -> dict[str, Any]:
    return {"document_id": p.document_id, "policy": p.policy,
            "steps": [s.as_json() for s in p.steps], "next_step": p.next_step,
            "state": p.state, "next_at": _stamp(p.next_at)}


@bp.get("/policies/documents/<document_id>")
def get_document_policy(document_id: str) -> Response:
    return jsonify(_progress(escalation.progress(_pb(), g.policies_org, document_id)))


@bp.put("/policies/documents/<document_id>")
def put_document_policy(document_id: str) -> Response:
    data = _body()
    name, steps = _text(data, "policy"), data.get("steps")
    if (name is None) == (steps is None):
        raise ApiProblem("invalid-input", "send either policy (a name) or steps")
    return jsonify(_progress(escalation.set_for_document(_pb(), g.policies_org, document_id,
                                                         name, steps)))


@bp.post("/policies/dry-run")
def dry_run() -> Response:
    data = _body()
    batch, recipients = _text(data, "batch"), data.get("recipients")
    if recipients is not None and (not isinstance(recipients, list)
                                   or not all(isinstance(r, str) for r in recipients)):
        raise ApiProblem("invalid-input", "recipients must be a list of external ids")
    run = escalation_dryrun.dry_run(_pb(), g.policies_org, batch=batch,
                                    external_ids=recipients, policy=_text(data, "policy"),
                                    steps=data.get("steps"))
    return jsonify(run.as_json())


# -- print queue ---------------------------------------------------------------------------------

def _entry(e: print_queue.PrintEntry) -> dict[str, Any]:
    return {"id": e.id, "document_id": e.document_id, "recipient": e.recipient,
            "step_day": e.step_day, "reason": e.reason, "state": e.state,
            "created_at": _stamp(e.created_at), "consigned_at": _stamp(e.consigned_at),
            "printable": e.printable, "printed_at": _stamp(e.printed_at),
            "printed_by": e.printed_by}


@bp.get("/print-queue")
def list_print_queue() -> Response:
    state = request.args.get("state", "queued")
    try:
        limit = int(request.args.get("limit", "200"))
    except ValueError:
        raise ApiProblem("invalid-input", "limit must be a whole number") from None
    entries = print_queue.list_entries(_pb(), g.policies_org, None if state == "all" else state,
                                       limit)
    return jsonify({"items": [_entry(e) for e in entries]})


@bp.get("/print-queue/<entry_id>")
def get_print_entry(entry_id: str) -> Response:
    return jsonify(_entry(print_queue.get_entry(_pb(), g.policies_org, entry_id)))


@bp.post("/print-queue/<entry_id>/printed")
def mark_printed(entry_id: str) -> Response:
    data = _body()
    by = _text(data, "by", required=True)
    return jsonify(_entry(print_queue.mark_printed(_pb(), g.policies_org, entry_id,
                                                   cast(str, by), _text(data, "sha256"))))


@bp.post("/print-queue/<entry_id>/dismiss")
def dismiss(entry_id: str) -> Response:
    data = _body()
    by, reason = _text(data, "by", required=True), _text(data, "reason", required=True)
    return jsonify(_entry(print_queue.dismiss(_pb(), g.policies_org, entry_id, cast(str, by),
                                              cast(str, reason))))


@bp.post("/print-queue/<entry_id>/pdf")
def pdf(entry_id: str) -> Response:
    """Cover page + the sender's copy (multipart: file, subject, filename, postal_address)."""
    if request.mimetype != "multipart/form-data":
        raise ApiProblem("malformed-request", "send multipart/form-data with a 'file' part")
    limit = _pb().settings.max_document_bytes + (64 << 10)
    if request.content_length is None or request.content_length > limit:
        raise ApiProblem("invalid-input", "send a Content-Length within the document size limit")
    upload = request.files.get("file")
    subject = request.form.get("subject")
    if upload is None or subject is None:
        raise ApiProblem("invalid-input", "send the parts 'file' and 'subject' (as delivered), "
                       "optionally 'filename' and 'postal_address'")
    merged = print_queue.print_pdf(_pb(), g.policies_org, entry_id,
                                   cast(BinaryIO, upload.stream), subject,
                                   request.form.get("filename") or upload.filename or "",
                                   request.form.get("postal_address"))
    response = Response(_chunks(merged), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="print-{entry_id}.pdf"'
    return response


def _chunks(pdf: IO[bytes]) -> Iterator[bytes]:
    try:
        while piece := pdf.read(1 << 16):
            yield piece
    finally:
        pdf.close()


def register_policies_api(app: Flask, pb: Postbox | None = None) -> None:
    """Mount the blueprint (exempt from CSRF: bearer tokens, no cookies)."""
    from web.security import csrf

    app.extensions[EXTENSION] = pb or app.extensions["postbox"]
    app.register_blueprint(bp)
    csrf.exempt(bp)


bp.openapi_paths = PATHS  # type: ignore[attr-defined]
bp.openapi_schemas = SCHEMAS  # type: ignore[attr-defined]
