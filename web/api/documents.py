"""Documents: deliver one (multipart, ``Idempotency-Key`` required) and follow its status."""
from __future__ import annotations

from tempfile import SpooledTemporaryFile
from typing import IO, Any, BinaryIO, cast

from flask import Response, jsonify, url_for

from postbox import delivery, tracking
from web.api import bp, render
from web.api.access import body_limit, identity, postbox, roles
from web.api.multipart import Part, request_parts
from web.api.parse import (
    day,
    flag,
    idempotency_key,
    json_object,
    only,
    required_text,
    text,
)
from web.api.problems import ApiProblem

METADATA_FIELDS = {"recipient", "subject", "case", "automated", "due_date", "filename"}
MAX_METADATA = 64 * 1024
SPOOL = 1 << 20


def metadata(raw: bytes) -> dict[str, Any]:
    """The JSON metadata of a document, shape-checked (the service checks the values)."""
    return fields(json_object(raw, "metadata"), METADATA_FIELDS, "metadata")


def fields(data: dict[str, Any], allowed: set[str], what: str) -> dict[str, Any]:
    only(data, allowed, what)
    return {"recipient": required_text(data, "recipient", 200),
            "subject": required_text(data, "subject", 1000),
            "case": text(data, "case", required=False, max_len=200),
            "automated": flag(data, "automated", False),
            "due_date": day(data, "due_date"),
            "filename": text(data, "filename", required=False, max_len=1000)}


def _spooled(part: Part, limit: int) -> IO[bytes]:
    """A file part that came before its metadata, set aside (bounded) until we know it."""
    spool: IO[bytes] = SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - caller closes
    size = 0
    while piece := part.read(1 << 16):
        size += len(piece)
        if size > limit:
            spool.close()
            raise ApiProblem("too-large", f"the document is larger than {limit} bytes")
        spool.write(piece)
    spool.seek(0)
    return spool


@bp.post("/documents")
@roles("sender", "admin")
@body_limit("API_MAX_UPLOAD_BYTES")
def deliver() -> Response:
    """Deliver one document: parts ``metadata`` (JSON) and ``file`` (the PDF)."""
    key = idempotency_key(required=True)
    pb = postbox()
    meta: dict[str, Any] | None = None
    receipt = None
    spool: IO[bytes] | None = None
    filename = "document.pdf"
    try:
        for part in request_parts(max_parts=4):
            if part.name == "metadata" and meta is None:
                meta = metadata(part.read_all(MAX_METADATA))
            elif part.name == "file" and receipt is None and spool is None:
                filename = part.filename or filename
                if meta is None:
                    spool = _spooled(part, pb.settings.max_document_bytes)
                    continue
                receipt = _deliver(meta, cast(IO[bytes], part), filename, key)
            else:
                raise ApiProblem("malformed-request", "send one 'metadata' part and one 'file' "
                                 "part")
        if meta is None or (receipt is None and spool is None):
            raise ApiProblem("invalid-input", "send one 'metadata' part and one 'file' part")
        if receipt is None and spool is not None:
            receipt = _deliver(meta, spool, filename, key)
    finally:
        if spool is not None:
            spool.close()
    assert receipt is not None  # every path without one raised
    response = jsonify({"id": receipt.document_id, "status": receipt.status,
                        "ciphertext_sha256": receipt.ciphertext_sha256,
                        "size": receipt.plaintext_size,
                        "submitted_at": render.stamp(receipt.created_at),
                        "replayed": receipt.replayed})
    response.status_code = 200 if receipt.replayed else 201
    response.headers["Location"] = url_for("api.document", document_id=receipt.document_id)
    if receipt.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _deliver(meta: dict[str, Any], stream: IO[bytes], filename: str,
             key: str | None) -> delivery.DeliveryReceipt:
    return delivery.deliver(postbox(), identity().org_id, meta["recipient"],
                            cast(BinaryIO, stream),
                            meta["subject"], meta["filename"] or filename, case=meta["case"],
                            automated=meta["automated"], due_date=meta["due_date"],
                            idempotency_key=key)


@bp.get("/documents/<document_id>")
@roles("sender", "compliance", "admin")
def document(document_id: str) -> Response:
    """Status and the evidence chain of one of the organisation's documents."""
    return jsonify(render.document(tracking.document_status(postbox(), identity().org_id,
                                                            document_id)))
