"""Batches: the list with progress and status counts; one batch's items with a status filter,
its CSV report (the same file as the API's), and print-ready PDFs for unreachable items."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO, cast

from flask import Response, abort, render_template, request, stream_with_context

from postbox import batches, dashboard, printing
from postbox.tracking import STATUSES
from web.org import area, bp, me, postbox
from web.portal.mail import content_disposition

PER_PAGE = 100
REPORT_COLUMNS = ("seq", "key", "client_ref", "recipient", "status", "reason", "document_id",
                  "created_at", "updated_at")  # as the API's report


def _stamp(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _cells(view: batches.ItemView) -> list[str]:
    return [batches.spreadsheet_safe(v) for v in (
        view.seq, view.key, view.client_ref, view.recipient, view.status, view.reason,
        view.document_id, _stamp(view.created_at), _stamp(view.updated_at))]


@bp.get("/batches")
@area("batches")
def batch_list() -> str:
    return render_template("org/batches.html",
                           batches=dashboard.recent_batches(postbox(), me().org_id))


@bp.get("/batches/<batch_id>")
@area("batches")
def batch(batch_id: str) -> str:
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        abort(400)
    after = min(max(0, request.args.get("after", 0, type=int) or 0), 2**31 - 1)  # no overflow
    view = batches.get_batch(postbox(), me().org_id, batch_id)
    page = batches.list_items(postbox(), me().org_id, batch_id, after=after, limit=PER_PAGE,
                              status=status)
    return render_template("org/batch.html", batch=view, page=page, status=status,
                           after=after, statuses=STATUSES)


@bp.get("/batches/<batch_id>/report.csv")
@area("batches")
def batch_report(batch_id: str) -> Response:
    rows = batches.report(postbox(), me().org_id, batch_id)
    first = next(rows, None)  # "not found" surfaces before the download starts

    def lines() -> Iterator[str]:
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\r\n")
        out.writerow(REPORT_COLUMNS)
        for view in ([first] if first else []):
            out.writerow(_cells(view))
        yield buf.getvalue()
        for view in rows:
            buf.seek(0)
            buf.truncate()
            out.writerow(_cells(view))
            yield buf.getvalue()

    response = Response(stream_with_context(lines()), mimetype="text/csv")
    response.headers["Content-Disposition"] = content_disposition(
        "attachment", f"batch-{batch_id}.csv")
    return response


@bp.post("/batches/<batch_id>/items/<int:seq>/print")
@area("send")
def batch_print(batch_id: str, seq: int) -> Response:
    """Cover page + the sender's own copy of an unreachable item, as one PDF; nothing kept."""
    limit = postbox().settings.max_document_bytes + (64 << 10)
    if (request.content_length or 0) > limit:
        abort(413)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        abort(400)
    pdf = printing.print_item(postbox(), me().org_id, batch_id, seq, cast(BinaryIO, upload.stream),
                              request.form.get("postal_address", "")[:2000] or None)

    def chunks() -> Iterator[bytes]:
        try:
            while piece := pdf.read(1 << 16):
                yield piece
        finally:
            pdf.close()

    response = Response(chunks(), mimetype="application/pdf")
    response.headers["Content-Disposition"] = content_disposition(
        "attachment", f"batch-{batch_id}-item-{seq}.pdf")
    return response
