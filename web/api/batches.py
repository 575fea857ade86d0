"""Batches: create, add items (many per request, streamed), close, cancel, status, report, print.

``POST /batches/{id}/items`` takes multipart/form-data with, for each item, a part ``item``
(its JSON metadata, with its ``key``) followed by a part ``file`` (the PDF). Items are handled
one by one as the body arrives, and each gets its own outcome in the answer: a client can send
thousands per request, or one, and retry any request as a whole (keys make repeats replays).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO, Any, BinaryIO, cast

from flask import Response, current_app, jsonify, request, stream_with_context

from postbox import batch_items, batch_settle, batches, printing
from postbox.batch_items import ItemResult
from postbox.bootstrap import Postbox
from postbox.errors import DatabaseProblem, PostboxError, StorageProblem
from postbox.ingest_items import ItemChunk
from postbox.tracking import STATUSES
from web.api import bp, render
from web.api.access import body_limit, identity, postbox, roles
from web.api.documents import MAX_METADATA, METADATA_FIELDS, fields
from web.api.multipart import request_parts
from web.api.parse import (
    flag,
    idempotency_key,
    integer,
    json_body,
    json_object,
    only,
    query_int,
    text,
)
from web.api.problems import ApiProblem, body, kind_of

ITEM_FIELDS = METADATA_FIELDS | {"key", "client_ref"}
REPORT_COLUMNS = ("seq", "key", "client_ref", "recipient", "status", "reason", "document_id",
                  "created_at", "updated_at")


@bp.post("/batches")
@roles("sender", "admin")
def create() -> Response:
    data = json_body()
    only(data, {"reference", "deliver_to_invited", "max_items"})
    view = batches.create_batch(
        postbox(), identity().org_id, reference=text(data, "reference", required=False,
                                                     max_len=1000),
        deliver_to_invited=flag(data, "deliver_to_invited", True),
        max_items=integer(data, "max_items", None, 1, batches.MAX_ITEMS),
        idempotency_key=idempotency_key(required=False), created_by=identity().token_id)
    response = jsonify(render.batch(view))
    response.status_code = 200 if view.replayed else 201
    return response


@bp.get("/batches/<hexid:batch_id>")
@roles("sender", "compliance", "admin")
def status(batch_id: str) -> Response:
    return jsonify(render.batch(batches.get_batch(postbox(), identity().org_id, batch_id)))


@bp.post("/batches/<hexid:batch_id>/items")
@roles("sender", "admin")
@body_limit("API_MAX_BATCH_REQUEST_BYTES")
def add_items(batch_id: str) -> Response:
    pb, org_id = postbox(), identity().org_id
    chunk = ItemChunk(pb, org_id, batch_id)  # 404 and 409 before the body is read
    most = int(current_app.config["API_MAX_ITEMS_PER_REQUEST"])
    outcomes: list[dict[str, object]] = []
    keys: dict[int, str | None] = {}  # items whose rows the chunk writes at the end
    try:
        _add_items(pb, org_id, batch_id, chunk, most, outcomes, keys)
    finally:
        # Also when the request fails midway: what was stored is written and reported.
        for index, done in chunk.finish().items():
            if index >= len(outcomes):  # failed before its outcome was listed: not reported
                continue
            outcomes[index] = (render.outcome(index, keys[index], done)
                               if isinstance(done, ItemResult) else
                               render.outcome(index, keys[index],
                                              problem=body(kind_of(done), str(done))))
    return jsonify({"batch_id": batch_id, "items": outcomes})


def _add_items(pb: Postbox, org_id: str, batch_id: str, chunk: ItemChunk, most: int,
               outcomes: list[dict[str, object]], keys: dict[int, str | None]) -> None:
    pending: bytes | None = None
    for part in request_parts(max_parts=2 * most):
        if part.name == "item" and pending is None:
            pending = part.read_all(MAX_METADATA)
            continue
        if part.name != "file" or pending is None:
            raise ApiProblem("malformed-request", "send each item as a part 'item' (JSON) "
                             "followed by a part 'file'", items=outcomes)
        index, raw, pending = len(outcomes), pending, None
        key: str | None = None
        try:
            data = json_object(raw, "item")
            key = data["key"] if isinstance(data.get("key"), str) else None
            chunk.at(index)
            result = batch_items.add_item(pb, org_id, batch_id, _item(data, part.filename),
                                          cast(BinaryIO, part), chunk)
            if result is None:  # written with the chunk; its outcome comes at the end
                keys[index] = key
            outcomes.append(render.outcome(index, key, result))
        except (StorageProblem, DatabaseProblem):
            raise  # the store or database is down: stop here; the client retries the request
        except ApiProblem as exc:
            outcomes.append(render.outcome(index, key, problem=body(exc.kind, exc.detail)))
        except PostboxError as exc:
            outcomes.append(render.outcome(index, key, problem=body(kind_of(exc), str(exc))))
    if pending is not None:
        raise ApiProblem("malformed-request", "the last 'item' part has no 'file' part",
                         items=outcomes)


def _item(data: dict[str, Any], filename: str | None) -> batch_items.ItemInput:
    meta = fields(data, ITEM_FIELDS, "item")
    return batch_items.ItemInput(
        key=batch_items.item_key(data.get("key")), recipient=meta["recipient"],
        subject=meta["subject"], filename=meta["filename"] or filename or "document.pdf",
        case=meta["case"], automated=meta["automated"], due_date=meta["due_date"],
        client_ref=text(data, "client_ref", required=False, max_len=200))


@bp.get("/batches/<hexid:batch_id>/items")
@roles("sender", "compliance", "admin")
def items(batch_id: str) -> Response:
    wanted = request.args.get("status")
    if wanted is not None and wanted not in STATUSES:
        raise ApiProblem("invalid-input", "unknown status")
    page = batches.list_items(postbox(), identity().org_id, batch_id,
                              after=query_int("after", 0, 0, 2**31 - 1),
                              limit=query_int("limit", 100, 1, batches.MAX_PAGE), status=wanted)
    return jsonify({"items": [render.item(i) for i in page.items],
                    "next_after": page.next_after})


def _settled(batch_id: str, action: str) -> Response:
    pb, org_id = postbox(), identity().org_id
    view = (batches.close_batch if action == "close" else batches.cancel_batch)(
        pb, org_id, batch_id)
    if view.state in ("closed", "cancelled"):
        batch_settle.settle(pb, batch_id, int(current_app.config["API_SETTLE_PER_REQUEST"]))
        view = batches.get_batch(pb, org_id, batch_id)
    response = jsonify(render.batch(view))
    response.status_code = 202 if view.pending else 200
    return response


@bp.post("/batches/<hexid:batch_id>/close")
@roles("sender", "admin")
def close(batch_id: str) -> Response:
    """Close and deliver; 202 while items remain to consign (call again, or let the worker)."""
    return _settled(batch_id, "close")


@bp.post("/batches/<hexid:batch_id>/cancel")
@roles("sender", "admin")
def cancel(batch_id: str) -> Response:
    return _settled(batch_id, "cancel")


@bp.get("/batches/<hexid:batch_id>/report.csv")
@roles("sender", "compliance", "admin")
def report(batch_id: str) -> Response:
    rows = batches.report(postbox(), identity().org_id, batch_id)
    first = next(rows, None)  # errors (not found) surface before the answer starts

    def lines() -> Iterator[str]:
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\r\n")
        out.writerow(REPORT_COLUMNS)
        for view in ([first] if first else []):
            out.writerow([batches.spreadsheet_safe(v) for v in render.item(view).values()])
        yield buf.getvalue()
        for view in rows:
            buf.seek(0)
            buf.truncate()
            out.writerow([batches.spreadsheet_safe(v) for v in render.item(view).values()])
            yield buf.getvalue()

    response = Response(stream_with_context(lines()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="batch-{batch_id}.csv"'
    return response


@bp.post("/batches/<hexid:batch_id>/items/<int(max=2147483647):seq>/print")
@roles("sender", "admin")
@body_limit("API_MAX_UPLOAD_BYTES")
def print_item(batch_id: str, seq: int) -> Response:
    """Cover page + the sender's copy of an unreachable item, as one PDF (nothing is kept)."""
    address: str | None = None
    for part in request_parts(max_parts=3):
        if part.name == "postal_address" and part.filename is None:
            address = part.read_all(2000).decode("utf-8", "replace")
        elif part.name == "file":
            pdf = printing.print_item(postbox(), identity().org_id, batch_id, seq,
                                      cast(BinaryIO, part), address)
            response = Response(_chunks(pdf), mimetype="application/pdf")
            response.headers["Content-Disposition"] = \
                f'attachment; filename="batch-{batch_id}-{seq}.pdf"'
            return response
        else:
            break
    raise ApiProblem("invalid-input", "send an optional 'postal_address' part, then a 'file' "
                     "part with the document as submitted")


def _chunks(pdf: IO[bytes]) -> Iterator[bytes]:
    try:
        while piece := pdf.read(1 << 16):
            yield piece
    finally:
        pdf.close()
