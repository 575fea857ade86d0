"""Cases and replies for the sender: the holds queue, hold/release/cancel, sealed replies.

Replies leave here still sealed to the organisation's own key (the service cannot read them);
the client opens them (``postbox replies pull --server``, or docs/replies.md). Another
organisation's reply or case is "not found", never "forbidden".
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from flask import Response, jsonify, request

from postbox import cases, replies
from web.api import bp, render
from web.api.access import identity, postbox, roles
from web.api.parse import json_body, only, query_int, required_text, strings
from web.api.problems import ApiProblem

MAX_ACK = 1000
CHUNK = 1 << 16
HEX = frozenset("0123456789abcdef")


def _sealed(item: replies.SealedReply) -> dict[str, Any]:
    return {"id": item.reply_id, "org_id": item.org_id, "document_id": item.document_id,
            "case": item.case_reference, "kind": item.kind,
            "created_at": render.stamp(item.created_at),
            "ciphertext_sha256": item.ciphertext_sha256}


@bp.get("/replies")
@roles("sender", "compliance", "admin")
def replies_list() -> Response:
    """Sealed replies, oldest first: unacknowledged ones unless ``all=1``."""
    everything = request.args.get("all", "0")
    if everything not in ("0", "1"):
        raise ApiProblem("invalid-input", "all must be 0 or 1")
    limit = query_int("limit", 100, 1, 1000)
    found = replies.list_replies(postbox(), identity().org_id,
                                 include_acknowledged=everything == "1", limit=limit)
    return jsonify({"replies": [_sealed(r) for r in found]})


def _stream(blob: BinaryIO) -> Iterator[bytes]:
    try:
        while piece := blob.read(CHUNK):
            yield piece
    finally:
        blob.close()


@bp.get("/replies/<hexid:reply_id>/content")
@roles("sender", "admin")
def reply_content(reply_id: str) -> Response:
    """The sealed reply as stored, streamed (only the organisation's key opens it)."""
    blob = replies.reply_blob(postbox(), identity().org_id, reply_id)
    response = Response(_stream(blob), mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = f'attachment; filename="{reply_id}.sealed"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/replies/ack")
@roles("sender", "admin")
def ack_replies() -> Response:
    """Mark replies as fetched; ids that are not this organisation's open replies are skipped,
    so repeating the call is harmless."""
    data = json_body()
    only(data, {"ids"})
    ids = strings(data, "ids", MAX_ACK, 32)
    if not all(len(i) == 32 and set(i) <= HEX for i in ids):
        raise ApiProblem("invalid-input", "ids are reply ids (32 lowercase hex characters)")
    return jsonify({"acknowledged": replies.acknowledge(postbox(), identity().org_id, ids)})


@bp.get("/cases/held")
@roles("sender", "compliance", "admin")
def held_cases() -> Response:
    """Cases on hold, oldest first, with what waits in each."""
    return jsonify({"cases": [
        {"reference": c.reference, "hold_since": render.stamp(c.hold_since),
         "held_items": c.held_items, "replies": c.replies}
        for c in cases.holds_queue(postbox(), identity().org_id)]})


def _actor() -> str:
    data = json_body()
    only(data, {"by"})
    actor = required_text(data, "by", 200)
    if not actor.strip():
        raise ApiProblem("invalid-input", "by names the person who acts")
    return actor


def _action(reference: str, action: str, document_ids: list[str]) -> Response:
    return jsonify({"reference": reference, "action": action, "document_ids": document_ids})


@bp.post("/cases/<path:reference>/hold")
@roles("sender", "admin")
def case_hold(reference: str) -> Response:
    """Put a case on hold by hand: automated deliveries in it wait for a person."""
    cases.hold(postbox(), identity().org_id, reference, _actor())
    return _action(reference, "hold", [])


@bp.post("/cases/<path:reference>/release")
@roles("sender", "admin")
def case_release(reference: str) -> Response:
    """Consign the held items in order, exactly once, and reopen the case."""
    done = cases.release(postbox(), identity().org_id, reference, _actor())
    return _action(reference, "release", done)


@bp.post("/cases/<path:reference>/cancel")
@roles("sender", "admin")
def case_cancel(reference: str) -> Response:
    """Discard the held items (the case stays on hold until released)."""
    done = cases.cancel(postbox(), identity().org_id, reference, _actor())
    return _action(reference, "cancel", done)
