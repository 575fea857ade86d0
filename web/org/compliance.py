"""Compliance (read-only): search deliveries, one document's evidence timeline, proof bundle and
PDF certificate downloads (streamed), and the evidence log's current checkpoint and witnesses."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Response, render_template, request, stream_with_context

from postbox import checkpoints, proofs, search, tracking
from postbox.errors import InvalidInput
from web.org import area, bp, me, postbox
from web.org.errors import describe
from web.portal.mail import content_disposition

PER_PAGE = 50


def _query() -> search.DeliveryQuery:
    args = request.args
    return search.DeliveryQuery(
        external_id=args.get("external_id", "")[:200] or None,
        document_id=args.get("document", "")[:64] or None,
        batch_id=args.get("batch", "")[:64] or None,
        case=args.get("case", "")[:200] or None,
        since=search.parse_day(args.get("since", "")[:20]),
        until=search.parse_day(args.get("until", "")[:20]))


@bp.get("/compliance")
@area("compliance")
def compliance_search() -> tuple[str, int]:
    args = {k: request.args.get(k, "")[:200] for k in
            ("external_id", "document", "batch", "case", "since", "until")}
    page = min(max(1, request.args.get("page", 1, type=int) or 1), 1_000_000)  # no overflow
    try:
        query = _query()
        results = search.find(postbox(), me().org_id, query, page, PER_PAGE)
    except InvalidInput as exc:
        status, text = describe(exc)
        return render_template("org/compliance.html", args=args, results=None,
                               error=text), status
    return render_template("org/compliance.html", args=args, results=results, error=None,
                           searched=not query.empty), 200


@bp.get("/compliance/documents/<document_id>")
@area("compliance")
def compliance_document(document_id: str) -> str:
    status = tracking.document_status(postbox(), me().org_id, document_id)
    return render_template("org/timeline.html", doc=status)


def _selection() -> dict[str, Any]:
    """What to export: one document (path) or a search selection (query string)."""
    query = _query()
    if query.empty:
        raise InvalidInput("choose what to export: a document, a batch, a recipient or a period")
    chosen = search.normalised(query)
    return {"document_id": chosen.document_id, "batch_id": chosen.batch_id,
            "recipient": chosen.external_id, "since": chosen.since, "until": chosen.until}


def _stream(kind: str, selection: dict[str, Any], filename: str, mimetype: str) -> Response:
    service = proofs.export_bundle if kind == "bundle" else proofs.export_certificate
    chunks: Iterator[bytes] = service(postbox(), me().org_id, **selection)
    response = Response(stream_with_context(chunks), mimetype=mimetype)
    response.headers["Content-Disposition"] = content_disposition("attachment", filename)
    return response


@bp.get("/compliance/documents/<document_id>/bundle.zip")
@area("compliance")
def compliance_bundle(document_id: str) -> Response:
    tracking.document_status(postbox(), me().org_id, document_id)  # not found: a page, not a zip
    return _stream("bundle", {"document_id": document_id}, f"proof-{document_id}.zip",
                   "application/zip")


@bp.get("/compliance/documents/<document_id>/certificate.pdf")
@area("compliance")
def compliance_certificate(document_id: str) -> Response:
    tracking.document_status(postbox(), me().org_id, document_id)
    return _stream("certificate", {"document_id": document_id},
                   f"proof-{document_id}.pdf", "application/pdf")


@bp.get("/compliance/export.zip")
@area("compliance")
def compliance_export() -> Response:
    return _stream("bundle", _selection(), "proof-bundle.zip", "application/zip")


@bp.get("/compliance/log")
@area("compliance")
def compliance_log() -> str:
    latest = checkpoints.latest(postbox())
    return render_template("org/evidence_log.html", latest=latest,
                           witnesses=checkpoints.witnesses(postbox()),
                           note=latest.note.decode("utf-8", "replace") if latest else None)
