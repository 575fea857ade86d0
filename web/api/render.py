"""Service results as JSON objects (the shapes are the ``components.schemas`` in spec.py)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from postbox.batch_items import ItemResult
from postbox.batches import BatchView, ItemView
from postbox.tracking import DocumentStatus


def stamp(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def batch(view: BatchView) -> dict[str, Any]:
    return {
        "id": view.id, "reference": view.reference, "state": view.state,
        "deliver_to_invited": view.deliver_to_invited, "max_items": view.max_items,
        "item_count": view.item_count, "pending": view.pending, "counts": view.counts,
        "held_cases": view.held_cases, "held_summary": view.held_summary,
        "created_at": stamp(view.created_at), "closed_at": stamp(view.closed_at),
        "delivered_at": stamp(view.delivered_at), "cancelled_at": stamp(view.cancelled_at),
        "replayed": view.replayed,
    }


def item(view: ItemView) -> dict[str, Any]:
    return {
        "seq": view.seq, "key": view.key, "client_ref": view.client_ref,
        "recipient": view.recipient, "status": view.status, "reason": view.reason,
        "document_id": view.document_id, "created_at": stamp(view.created_at),
        "updated_at": stamp(view.updated_at),
    }


def outcome(index: int, key: str | None, result: ItemResult | None = None,
            problem: dict[str, Any] | None = None) -> dict[str, Any]:
    """What happened to one item of a multi-item request."""
    return {
        "index": index, "key": key,
        "seq": result.seq if result else None,
        "status": result.status if result else None,
        "reason": result.reason if result else None,
        "document_id": result.document_id if result else None,
        "replayed": result.replayed if result else False,
        "problem": problem,
    }


def document(status: DocumentStatus) -> dict[str, Any]:
    return {
        "id": status.id, "recipient": status.recipient, "status": status.status,
        "batch_id": status.batch_id, "case": status.case, "automated": status.automated,
        "due_date": day(status.due_date), "ciphertext_sha256": status.ciphertext_sha256,
        "size": status.size, "submitted_at": stamp(status.submitted_at),
        "consigned_at": stamp(status.consigned_at), "retrieved_at": stamp(status.retrieved_at),
        "evidence": [{
            "id": e.id, "event": e.event, "time": stamp(e.time), "record_hash": e.record_hash,
            "key_id": e.key_id, "body": e.body, "signature": e.signature,
            "countersignature": e.countersignature, "leaf_index": e.leaf_index,
        } for e in status.evidence],
    }
