"""Key material for delegation: stanzas for new deliveries, and re-wrapping existing documents.

New deliveries. :func:`seal_document` is what the delivery paths call instead of
``crypto.envelope.seal_document``: the blob is the same, and the data key is also wrapped for
every pending or active grant in scope; the stanzas are stored at once (before the blob), so a
grant accepted while a batch is running already covers its documents.

Existing documents. Only the owner's unlocked vault can unwrap their data keys, so the owner's
session starts the job (:func:`rewrap`, bounded per call; :func:`start_background` runs the rest
on a thread holding the vault in memory). Each key is unwrapped and re-wrapped for the delegate
inside one call of crypto/delegate.py; no plaintext key is written anywhere. Progress is the
stanza table itself, so an interrupted job resumes from the owner's next session. Payloads are
never re-encrypted.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import BinaryIO

from sqlalchemy import and_, bindparam, exists, or_, select, update

from crypto.delegate import (
    DelegateAddress,
    rewrap_for_delegate,
    seal_document_with_delegates,
)
from crypto.envelope import DocumentAddress, SealingReader
from crypto.envelope import seal_document as seal_plain
from crypto.errors import OpenError
from postbox.auth import Vault
from postbox.bootstrap import Postbox
from postbox.delegation import LIVE
from postbox.models import DelegateStanza, DelegationGrant, Document, Recipient

log = logging.getLogger("postbox.delegation")
CHUNK = 100
SKIP_STATUSES = ("purged", "cancelled")
_running: set[str] = set()
_running_lock = threading.Lock()


def _in_scope(org_id: str | None):  # type: ignore[no-untyped-def]
    return or_(DelegationGrant.org_id.is_(None), DelegationGrant.org_id == org_id)


# Built once: the statement is compiled and cached, not rebuilt per delivery.
_LIVE_GRANTS = (
    select(DelegationGrant.id, DelegationGrant.delegate_id,
           DelegationGrant.delegate_key_version, Recipient.x25519_public)
    .join(Recipient, Recipient.id == DelegationGrant.delegate_id)
    .where(DelegationGrant.owner_id == bindparam("owner"),
           DelegationGrant.state.in_(LIVE), DelegationGrant.expires_at > bindparam("now"),
           or_(DelegationGrant.org_id.is_(None), DelegationGrant.org_id == bindparam("org"))))


def seal_document(pb: Postbox, org_id: str, src: BinaryIO, address: DocumentAddress,
                  public_key: bytes, metadata: Mapping[str, str]) -> SealingReader:
    """Seal for the recipient and, with the same data key, for their delegates in scope."""
    now = pb.clock.now()
    # A plain read on its own connection: every delivery asks, so no ORM session and (on
    # SQLite) no write lock, which the unit of work would take at BEGIN.
    with pb.engine.connect() as conn:
        grants = conn.execute(_LIVE_GRANTS, {"owner": address.recipient_id, "now": now,
                                             "org": org_id}).all()
    if not grants:
        return seal_plain(src, address, public_key, metadata)
    delegates = [(DelegateAddress(address.document_id, delegate_id, grant_id, version),
                  bytes(public)) for grant_id, delegate_id, version, public in grants]
    reader, stanzas = seal_document_with_delegates(src, address, public_key, metadata,
                                                   delegates)
    with pb.uow() as uow:
        for (d, _), stanza in zip(delegates, stanzas):
            uow.session.add(DelegateStanza(grant_id=d.grant_id, document_id=d.document_id,
                                           stanza=stanza, created_at=now))
        uow.commit()
    return reader


def rewrap(pb: Postbox, vault: Vault, limit: int = CHUNK) -> int:
    """Wrap up to ``limit`` of the owner's documents for their live grants; returns how many
    stanzas were written. A grant is marked done when none of its documents is left."""
    now, written = pb.clock.now(), 0
    with pb.uow() as uow:
        s = uow.session
        grants = list(s.execute(
            select(DelegationGrant, Recipient.x25519_public)
            .join(Recipient, Recipient.id == DelegationGrant.delegate_id)
            .where(DelegationGrant.owner_id == vault.recipient_id,
                   DelegationGrant.state.in_(LIVE), DelegationGrant.expires_at > now,
                   DelegationGrant.rewrapped_at.is_(None))
            .order_by(DelegationGrant.created_at)).all())
        for grant, public in grants:
            missing = (select(Document).where(
                Document.recipient_id == vault.recipient_id,
                Document.status.not_in(SKIP_STATUSES),
                ~exists().where(and_(DelegateStanza.grant_id == grant.id,
                                     DelegateStanza.document_id == Document.id)))
                .order_by(Document.created_at, Document.id))
            if grant.org_id is not None:
                missing = missing.where(Document.org_id == grant.org_id)
            budget = limit - written
            docs = list(s.scalars(missing.limit(budget)))
            failed = 0
            for doc in docs:
                owner = DocumentAddress(doc.id, doc.recipient_id, doc.key_version)
                target = DelegateAddress(doc.id, grant.delegate_id, grant.id,
                                         grant.delegate_key_version)
                try:
                    stanza = rewrap_for_delegate(doc.sealed_key, owner, vault.keys.x25519,
                                                 target, bytes(public))
                except OpenError:  # sealed to an older key of the owner: left out, logged
                    failed += 1
                    continue
                s.add(DelegateStanza(grant_id=grant.id, document_id=doc.id, stanza=stanza,
                                     created_at=now))
                written += 1
            if failed:
                log.warning("delegation %s: %d document(s) could not be re-wrapped", grant.id,
                            failed)
            if len(docs) < budget:  # nothing of this grant is left
                s.execute(update(DelegationGrant).where(DelegationGrant.id == grant.id)
                          .values(rewrapped_at=now))
            if written >= limit:
                break
        uow.commit()
    return written


def pending(pb: Postbox, vault: Vault) -> bool:
    """Has the owner a live grant whose existing documents are not all wrapped yet?"""
    now = pb.clock.now()
    with pb.uow() as uow:
        return uow.session.scalar(select(DelegationGrant.id).where(
            DelegationGrant.owner_id == vault.recipient_id, DelegationGrant.state.in_(LIVE),
            DelegationGrant.expires_at > now, DelegationGrant.rewrapped_at.is_(None))
            .limit(1)) is not None


def start_background(pb: Postbox, vault: Vault) -> bool:
    """Run :func:`rewrap` to the end on a thread (one per owner per process); the vault stays
    in that thread's memory only. Returns False if a job for this owner already runs."""
    with _running_lock:
        if vault.recipient_id in _running:
            return False
        _running.add(vault.recipient_id)

    def run() -> None:
        try:
            while rewrap(pb, vault) > 0:
                pass
        except Exception:
            log.exception("delegation re-wrap stopped; it resumes from the owner's next session")
        finally:
            with _running_lock:
                _running.discard(vault.recipient_id)

    threading.Thread(target=run, name="postbox-delegation-rewrap", daemon=True).start()
    return True
