"""A delegate reading an owner's postbox: the list, one message, its content.

Every call checks the grant first (postbox/delegation.py ``access``): revoked, expired or out
of scope is "not found", at once. The data key comes from the delegate's stanza, opened with
the delegate's own unlocked key. A completed open is ``retrieved`` evidence about the owner's
document that names the delegate and is countersigned with the delegate's Ed25519 key; it
appears in the owner's history, and the owner gets a (coalesced) notice.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.delegate import DelegateAddress, open_delegated, open_delegated_metadata
from crypto.envelope import DocumentAddress
from crypto.errors import OpenError
from crypto.signing import key_id
from postbox import evidence, followups, notices, validation
from postbox.auth import Vault
from postbox.bootstrap import Postbox
from postbox.delegation import Access, access
from postbox.errors import DatabaseProblem, NotFound, storage_problem
from postbox.models import (
    DelegateRetrieval,
    DelegateStanza,
    Document,
    Organisation,
    Recipient,
)
from postbox.reading import (
    VISIBLE,
    DocumentUnreadable,
    Message,
    OpenedDocument,
    _Watched,
)
from storage.errors import StorageError

log = logging.getLogger("postbox.delegation")
MAX_LISTED = 200


@dataclass(frozen=True)
class DelegateBox:
    """The owner's documents as the delegate may see them."""

    owner_id: str
    owner_email: str
    scope: str
    messages: list[Message]


def _scoped(grant: Access):  # type: ignore[no-untyped-def]
    q = (select(Document, Organisation, DelegateStanza.stanza)
         .join(Organisation, Organisation.id == Document.org_id)
         .join(DelegateStanza, (DelegateStanza.document_id == Document.id)
               & (DelegateStanza.grant_id == grant.grant_id))
         .where(Document.recipient_id == grant.owner_id, Document.status.in_(VISIBLE),
                Document.deleted_at.is_(None)))
    return q if grant.org_id is None else q.where(Document.org_id == grant.org_id)


def _addresses(doc: Document, grant: Access) -> tuple[DocumentAddress, DelegateAddress]:
    return (DocumentAddress(doc.id, doc.recipient_id, doc.key_version),
            DelegateAddress(doc.id, grant.delegate_id, grant.grant_id, grant.key_version))


def _message(vault: Vault, grant: Access, doc: Document, org: Organisation,
             stanza: bytes) -> Message:
    owner, delegate = _addresses(doc, grant)
    try:
        meta = open_delegated_metadata(doc.sealed_key, doc.sealed_meta, owner, stanza, delegate,
                                       vault.keys.x25519)
    except OpenError:
        meta = {"subject": "(unreadable)", "filename": "document"}
    return Message(doc.id, org.name, org.slug, meta.get("subject", ""),
                   validation.shown_filename(meta.get("filename", "document"),
                                             doc.content_type), doc.content_type,
                   doc.plaintext_size,
                   doc.consigned_at or doc.created_at, doc.due_date, doc.first_read_at is not None,
                   doc.archived_at is not None, False, doc.case_id, doc.superseded_by,
                   doc.retracted_at is not None)


def _grant(pb: Postbox, session: Session, vault: Vault, owner_id: str) -> Access:
    return access(session, vault.recipient_id, owner_id, pb.clock.now())


def inbox(pb: Postbox, vault: Vault, owner_id: str) -> DelegateBox:
    """The owner's documents in the grant's scope, newest first (at most 200)."""
    with pb.uow() as uow:
        s = uow.session
        grant = _grant(pb, s, vault, owner_id)
        email = s.scalar(select(Recipient.email).where(Recipient.id == owner_id)) or ""
        rows = s.execute(_scoped(grant).order_by(Document.created_at.desc(), Document.id)
                         .limit(MAX_LISTED)).all()
        return DelegateBox(owner_id, email, grant.scope,
                           [_message(vault, grant, d, o, bytes(st)) for d, o, st in rows])


def _one(s: Session, grant: Access, document_id: str) -> tuple[Document, Organisation, bytes]:
    row = s.execute(_scoped(grant).where(Document.id == document_id)).first()
    if row is None:
        raise NotFound("no such message")
    return row[0], row[1], bytes(row[2])


def message(pb: Postbox, vault: Vault, owner_id: str, document_id: str) -> Message:
    with pb.uow() as uow:
        grant = _grant(pb, uow.session, vault, owner_id)
        doc, org, stanza = _one(uow.session, grant, document_id)
        return _message(vault, grant, doc, org, stanza)


def open_message(pb: Postbox, vault: Vault, owner_id: str, document_id: str) -> OpenedDocument:
    """The plaintext as a stream; ``retrieved`` (naming the delegate) when it completes."""
    with pb.uow() as uow:
        grant = _grant(pb, uow.session, vault, owner_id)
        doc, org, stanza = _one(uow.session, grant, document_id)
        msg = _message(vault, grant, doc, org, stanza)
        owner, delegate = _addresses(doc, grant)
        blob_key = doc.blob_key
    try:
        blob = _Watched(pb.store.open(blob_key))
    except StorageError as exc:
        raise storage_problem(exc) from exc

    def stream() -> Iterator[bytes]:
        try:
            yield from open_delegated(blob, owner, stanza, delegate,  # type: ignore[arg-type]
                                      vault.keys.x25519)
        except OpenError:
            if blob.failure is not None:
                raise storage_problem(blob.failure) from blob.failure
            log.error("document %s failed its integrity check (delegate open); nothing was "
                      "handed over", document_id)
            raise DocumentUnreadable("this document failed its integrity check") from None
        finally:
            blob.close()
        try:
            _record(pb, vault, grant, document_id)
        except DatabaseProblem:
            log.error("delegate retrieval of document %s could not be recorded: the database "
                      "is unavailable or full", document_id)

    return OpenedDocument(msg, stream())


def _record(pb: Postbox, vault: Vault, grant: Access, document_id: str) -> None:
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        # Re-checked in the recording transaction: a revocation during the download wins.
        grant = access(s, vault.recipient_id, grant.owner_id, now)
        doc = s.scalar(select(Document).where(Document.id == document_id).with_for_update())
        if doc is None:
            return
        public = s.scalar(select(Recipient.ed25519_public)
                          .where(Recipient.id == vault.recipient_id))
        subject = evidence.Subject(doc.org_id, doc.recipient_id, doc.id, doc.ciphertext_sha256)
        row = evidence.record(
            s, pb.keys, "retrieved", subject, now, auth=vault.auth,
            details={"delegate": vault.recipient_id, "grant": grant.grant_id,
                     "delegate_key_id": key_id(bytes(public)) if public else None},
            countersigner=vault.keys)
        s.add(DelegateRetrieval(evidence_id=row.id, delegate_id=vault.recipient_id,
                                grant_id=grant.grant_id))
        first_read = doc.first_read_at is None
        if first_read:
            doc.first_read_at = now
        followups.retrieved(s, doc, now, first_read)
        notices.enqueue_notice(s, doc.recipient_id, doc.id, now, reason="delegate_open")
        uow.commit()
