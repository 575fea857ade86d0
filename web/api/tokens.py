"""API tokens of the caller's organisation (admin role): list, create (shown once), revoke."""
from __future__ import annotations

from flask import Response, jsonify

from postbox import api_tokens, orgs, validation
from postbox.models import ROLES
from web.api import bp, render
from web.api.access import identity, postbox, roles
from web.api.parse import json_body, only, required_text, text
from web.api.problems import ApiProblem


@bp.get("/tokens")
@roles("admin")
def list_tokens() -> Response:
    return jsonify({"tokens": [
        {"id": t.id, "role": t.role, "label": t.label, "created_at": render.stamp(t.created_at),
         "last_used_at": render.stamp(t.last_used_at), "revoked_at": render.stamp(t.revoked_at)}
        for t in api_tokens.list_tokens(postbox(), identity().org_id)]})


@bp.post("/tokens")
@roles("admin")
def create_token() -> Response:
    """A new token for this organisation: its value is in this answer and nowhere else."""
    data = json_body()
    only(data, {"role", "label"})
    role = required_text(data, "role", 20)
    if role not in ROLES:
        raise ApiProblem("invalid-input", f"role must be one of {', '.join(ROLES)}")
    label = text(data, "label", required=False, max_len=200)
    label = validation.display_text(label, "label", 200) if label is not None else None
    pb = postbox()
    value = orgs.create_token(pb, identity().org_id, role, label)
    created = orgs.resolve_token(pb, value)
    assert created is not None  # we just made it
    response = jsonify({"id": created.token_id, "role": role, "label": label, "token": value})
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.delete("/tokens/<hexid:token_id>")
@roles("admin")
def revoke_token(token_id: str) -> Response:
    orgs.revoke_token(postbox(), identity().org_id, token_id)
    return Response(status=204)
