"""Corrections by the sender: supersede a document with a corrected one, or retract it.

Nothing disappears silently: the recipient keeps both versions and sees a banner on the old
one. Each change is a ``superseded`` evidence on the old document naming the new one (or the
retraction and its reason) and the person who did it.
"""
from __future__ import annotations

from sqlalchemy import select

from postbox import evidence, validation
from postbox.bootstrap import Postbox
from postbox.errors import Conflict, NotFound
from postbox.models import Document
from postbox.orgs import find_org

CORRECTABLE = ("consigned", "notified", "retrieved")


def _own(session, org_id: str, document_id: str) -> Document:  # type: ignore[no-untyped-def]
    doc = session.scalar(select(Document).where(Document.id == document_id,
                                                Document.org_id == org_id).with_for_update())
    if doc is None:
        raise NotFound("no such document")
    return doc


def supersede(pb: Postbox, org_ref: str, old_id: str, new_id: str, actor: str) -> None:
    """Link ``old_id`` to its correction ``new_id`` (already delivered to the same person)."""
    actor = validation.display_text(actor, "actor", 200)
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        org_id = find_org(s, org_ref).id
        old, new = _own(s, org_id, old_id), _own(s, org_id, new_id)
        if old.id == new.id or old.recipient_id != new.recipient_id:
            raise Conflict("a correction must be another document for the same recipient")
        if old.superseded_by == new.id:
            return  # already done: idempotent
        if old.superseded_by is not None or old.retracted_at is not None:
            raise Conflict("this document was already corrected or retracted")
        if old.status not in CORRECTABLE:
            raise Conflict("only delivered documents can be corrected")
        old.superseded_by = new.id
        evidence.record(s, pb.keys, "superseded",
                        evidence.Subject(old.org_id, old.recipient_id, old.id,
                                         old.ciphertext_sha256),
                        now, details={"by": actor, "replaced_by": new.id})
        uow.commit()


def retract(pb: Postbox, org_ref: str, document_id: str, reason: str, actor: str) -> None:
    """Withdraw a document; the recipient still sees it, marked as withdrawn, with the reason."""
    actor = validation.display_text(actor, "actor", 200)
    reason = validation.display_text(reason, "reason", 500)
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        doc = _own(s, find_org(s, org_ref).id, document_id)
        if doc.retracted_at is not None:
            return
        if doc.status not in CORRECTABLE:
            raise Conflict("only delivered documents can be retracted")
        doc.retracted_at = now
        evidence.record(s, pb.keys, "superseded",
                        evidence.Subject(doc.org_id, doc.recipient_id, doc.id,
                                         doc.ciphertext_sha256),
                        now, details={"by": actor, "retracted": True, "reason": reason})
        uow.commit()
