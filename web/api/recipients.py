"""Recipients: invite (activation code as JSON, or the printable letter), reachability."""
from __future__ import annotations

from flask import Response, jsonify, request

from postbox import orgs, recipients, validation
from postbox.letters import invitation_letter
from web.api import bp
from web.api.access import identity, postbox, roles
from web.api.parse import json_body, only, required_text, strings

MAX_LOOKUP = 1000


@bp.post("/recipients")
@roles("sender", "admin")
def invite() -> Response:
    """Invite a person; answer the activation code, or (Accept: application/pdf) the letter."""
    data = json_body()
    only(data, {"external_id", "email"})
    external_id = required_text(data, "external_id", 200)
    email = required_text(data, "email", 400)
    pb = postbox()
    org_id = identity().org_id
    inv = recipients.invite_recipient(pb, org_id, external_id, email)
    wants_pdf = request.accept_mimetypes.best_match(["application/json", "application/pdf"]) \
        == "application/pdf"
    if wants_pdf and inv.activation_code is not None:
        letter = invitation_letter(orgs.get_org(pb, org_id).name, inv.email, inv.external_id,
                                   inv.activation_code, pb.settings.public_url, pb.clock.now())
        response = Response(letter, 201, mimetype="application/pdf")
        response.headers["Content-Disposition"] = 'attachment; filename="invitation.pdf"'
        response.headers["Postbox-Recipient-Id"] = inv.recipient_id
        return response
    response = jsonify({"recipient_id": inv.recipient_id, "external_id": inv.external_id,
                        "linked_existing": inv.linked_existing,
                        "activation_code": inv.activation_code})
    response.status_code = 200 if inv.linked_existing else 201
    return response


@bp.get("/recipients/<external_id>/reachability")
@roles("sender", "admin")
def reachability(external_id: str) -> Response:
    external_id = validation.external_id(external_id)
    state = recipients.reachability(postbox(), identity().org_id, external_id)
    return jsonify({"external_id": external_id, "reachability": state})


@bp.post("/recipients/reachability")
@roles("sender", "admin")
def reachability_many() -> Response:
    """Reachability of up to 1,000 external ids, in the order asked."""
    data = json_body()
    only(data, {"external_ids"})
    ids = [validation.external_id(v) for v in strings(data, "external_ids", MAX_LOOKUP, 128)]
    found = recipients.reachability_many(postbox(), identity().org_id, ids)
    return jsonify({"results": [{"external_id": i, "reachability": found[i]} for i in ids]})
