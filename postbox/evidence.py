"""Evidence records: signed canonical JSON, one per event, chained per document by ``prev``.

Modelled on ETSI EN 319 522 events. The Merkle log over these records (checkpoints, proofs,
bundles) builds on this table; here records are created, signed and (for ``retrieved``)
countersigned by the recipient's own key, which only their PIN unlocks.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from crypto.keys import RecipientKeyPair
from crypto.signing import countersign_retrieval, sign_evidence
from postbox.errors import ConfigError
from postbox.keyring import KeyRing
from postbox.models import Document, Evidence, SigningKey, new_id

FORMAT = "postbox-evidence/1"
ETSI_NAMES = {
    "submission_accepted": "SubmissionAcceptance",
    "consigned": "ContentConsignment",
    "notified": "ConsignmentNotification",
    "notice_failed": "ConsignmentNotificationFailure",
    "retrieved": "ContentHandover",
    "held": "ContentHeld",
    "released": "ContentReleased",
    "cancelled": "ContentCancelled",
    "superseded": "ContentSuperseded",
    "replied": "RecipientReply",
    # Unread escalation reached a print step: the letter goes on paper (postbox/print_queue.py).
    "print_fallback": "ContentPrintFallback",
}


@dataclass(frozen=True)
class Subject:
    """What an evidence is about."""

    org_id: str
    recipient_id: str
    document_id: str
    ciphertext_sha256: str | None = None
    commitment: str | None = None


def utc_stamp(at: datetime) -> str:
    """RFC 3339 UTC with microseconds, e.g. 2026-11-24T10:00:00.000000Z."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _chain_head(session: Session, document_id: str) -> tuple[str | None, Document | None]:
    """The record hash of the document's latest evidence, and the row that keeps it.

    The document row is locked (PostgreSQL) so two events never chain to the same head."""
    doc = session.get(Document, document_id, with_for_update=True)
    if doc is not None:
        return doc.evidence_head, doc
    return _search_head(session, document_id), None


def _search_head(session: Session, document_id: str) -> str | None:
    """The latest evidence found by search: the one no other record points to."""
    successors = select(Evidence.prev_hash).where(
        Evidence.document_id == document_id, Evidence.prev_hash.is_not(None)
    )
    return session.scalars(
        select(Evidence.record_hash).where(
            Evidence.document_id == document_id, Evidence.record_hash.not_in(successors)
        )
    ).first()


def record(
    session: Session,
    keys: KeyRing,
    event: str,
    subject: Subject,
    at: datetime,
    *,
    auth: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    countersigner: RecipientKeyPair | None = None,
) -> Evidence:
    """Create, sign and add one evidence record to ``session`` (committed by the caller)."""
    if event not in ETSI_NAMES:
        raise ValueError(f"unknown evidence event {event!r}")
    signer = keys.evidence_key
    if signer is None:
        raise ConfigError("the evidence signing key is missing; run `postbox init`")
    registered = session.get(SigningKey, signer.key_id)
    if registered is not None and registered.valid_until is not None \
            and at >= registered.valid_until:  # rotated (postbox/trust.py): never sign past it
        raise ConfigError(f"the evidence key {signer.key_id} was retired; restart this "
                          "process to load the new key")
    session.flush()  # earlier records of this transaction must be visible to the chain query
    prev, doc = _chain_head(session, subject.document_id)
    body_obj: dict[str, Any] = {
        "v": FORMAT,
        "id": new_id(),
        "event": event,
        "etsi": ETSI_NAMES[event],
        "time": utc_stamp(at),
        "sender_org": subject.org_id,
        "recipient": subject.recipient_id,
        "document": subject.document_id,
        "ciphertext_sha256": subject.ciphertext_sha256,
        "commitment": subject.commitment,
        "auth": auth,
        "prev": prev,
        "key_id": signer.key_id,
    }
    if details:
        body_obj["details"] = details
    body, signature = sign_evidence(body_obj, signer.seed)
    row = Evidence(
        id=body_obj["id"],
        document_id=subject.document_id,
        recipient_id=subject.recipient_id,
        org_id=subject.org_id,
        event=event,
        created_at=at,
        body=body,
        signature=signature,
        key_id=signer.key_id,
        countersignature=countersign_retrieval(body, countersigner.ed25519)
        if countersigner else None,
        prev_hash=body_obj["prev"],
        record_hash=hashlib.sha256(body).hexdigest(),
    )
    session.add(row)
    if doc is not None:
        doc.evidence_head = row.record_hash
    return row


def append_many(
    session: Session,
    keys: KeyRing,
    event: str,
    entries: list[tuple[Subject, str | None, datetime]],
    *,
    details: dict[str, Any] | None = None,
) -> list[str]:
    """Sign and insert one ``event`` record per (subject, chain head, time) in one statement.

    For bulk paths (batch items, settling) whose caller already holds each document's chain
    head under lock (or has just created the document, head None) and stores the returned
    record hashes as the new heads. Same records, bytes and signatures as :func:`record`."""
    if event not in ETSI_NAMES:
        raise ValueError(f"unknown evidence event {event!r}")
    signer = keys.evidence_key
    if signer is None:
        raise ConfigError("the evidence signing key is missing; run `postbox init`")
    registered = session.get(SigningKey, signer.key_id) if entries else None
    if registered is not None and registered.valid_until is not None \
            and max(e[2] for e in entries) >= registered.valid_until:  # as in record()
        raise ConfigError(f"the evidence key {signer.key_id} was retired; restart this "
                          "process to load the new key")
    rows: list[dict[str, Any]] = []
    heads: list[str] = []
    for subject, prev, at in entries:
        body_obj: dict[str, Any] = {
            "v": FORMAT, "id": new_id(), "event": event, "etsi": ETSI_NAMES[event],
            "time": utc_stamp(at), "sender_org": subject.org_id, "recipient": subject.recipient_id,
            "document": subject.document_id, "ciphertext_sha256": subject.ciphertext_sha256,
            "commitment": subject.commitment, "auth": None, "prev": prev,
            "key_id": signer.key_id}
        if details:
            body_obj["details"] = details
        body, signature = sign_evidence(body_obj, signer.seed)
        heads.append(hashlib.sha256(body).hexdigest())
        rows.append({"id": body_obj["id"], "leaf_index": None,
                     "document_id": subject.document_id, "recipient_id": subject.recipient_id,
                     "org_id": subject.org_id, "event": event, "created_at": at, "body": body,
                     "signature": signature, "key_id": signer.key_id, "countersignature": None,
                     "prev_hash": prev, "record_hash": heads[-1]})
    if rows:
        session.execute(insert(Evidence.__table__), rows)  # type: ignore[arg-type]
    return heads


def for_document(session: Session, document_id: str) -> list[Evidence]:
    """The document's evidence in chain order (following ``prev`` from the first record)."""
    rows = list(session.scalars(select(Evidence).where(Evidence.document_id == document_id)))
    by_prev = {r.prev_hash: r for r in rows}
    ordered, cursor = [], by_prev.get(None)
    while cursor is not None:
        ordered.append(cursor)
        cursor = by_prev.get(cursor.record_hash)
    return ordered
