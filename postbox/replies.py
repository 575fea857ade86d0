"""Replies: a recipient answers (or disputes) a message; only the organisation can read it.

The reply is a small ZIP (``message.txt``, ``reply.json`` and the attachments), sealed with the
sealed-document format to the organisation's own X25519 key (``postbox org keys init``), which
the service never holds. A reply or dispute in a case puts the case ON HOLD at once, so
automated follow-ups in it wait for a person (see :mod:`postbox.cases`). Format: docs/replies.md.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Iterator

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crypto.envelope import DocumentAddress, open_document, seal_document
from crypto.keys import BoxKeyPair
from postbox import delegation, evidence, validation, webhooks
from postbox.auth import Vault
from postbox.bootstrap import Postbox
from postbox.cases import put_on_hold
from postbox.delivery import sniff
from postbox.errors import Conflict, InvalidInput, NotFound, storage_problem
from postbox.models import Case, Document, Organisation, PendingBlob, Reply, new_id
from postbox.orgs import find_org
from storage.errors import StorageError

MAX_TEXT = 10_000
MAX_ATTACHMENTS = 5
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ATTACHMENT_TYPES = ("application/pdf", "image/png", "image/jpeg")
KEY_VERSION = 1
FORMAT = "postbox-reply/1"


@dataclass(frozen=True)
class ReplyReceipt:
    reply_id: str
    case_on_hold: bool


@dataclass(frozen=True)
class SealedReply:
    """What an integrator needs to open a reply with the organisation key (docs/replies.md)."""

    reply_id: str
    org_id: str
    document_id: str
    case_reference: str | None
    kind: str
    created_at: datetime
    ciphertext_sha256: str
    blob_key: str


@dataclass(frozen=True)
class OpenedReply:
    reply_id: str
    kind: str
    text: str
    in_reply_to: str
    case_reference: str | None
    attachments: list[tuple[str, bytes]]


def init_org_keys(pb: Postbox, org_ref: str, replace: bool = False) -> bytes:
    """A new reply key pair; stores the public half, returns the private half (once)."""
    pair = BoxKeyPair.generate()
    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        if org.reply_public_key is not None and not replace:
            raise Conflict("this organisation already has a reply key; replies sealed to it "
                           "would become unreadable if it were replaced without care")
        org.reply_public_key = pair.public_bytes()
        uow.commit()
    return pair.to_bytes()


def _package(text: str, attachments: list[tuple[str, bytes]], meta: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("reply.json", json.dumps(meta, sort_keys=True))
        zf.writestr("message.txt", text)
        for name, data in attachments:
            zf.writestr(f"attachments/{name}", data)
    return buf.getvalue()


def _check(text: str, attachments: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise InvalidInput(f"a reply is at most {MAX_TEXT} characters")
    if "\x00" in text:
        raise InvalidInput("a reply must not contain NUL characters")
    if len(attachments) > MAX_ATTACHMENTS:
        raise InvalidInput(f"at most {MAX_ATTACHMENTS} attachments")
    checked, seen = [], set()
    for name, data in attachments:
        name = validation.filename(name)
        if name in seen:
            raise InvalidInput(f"two attachments are called {name!r}")
        seen.add(name)
        if not data or len(data) > MAX_ATTACHMENT_BYTES:
            raise InvalidInput(f"each attachment is 1 byte to {MAX_ATTACHMENT_BYTES // 2**20} MiB")
        if sniff(data[:16]) not in ATTACHMENT_TYPES:
            raise InvalidInput("attachments must be PDF, PNG or JPEG (checked by content)")
        checked.append((name, data))
    return checked


def _document(s: Session, vault: Vault, document_id: str, owner_id: str | None,
              now: datetime) -> Document:
    """The document replied to: the caller's own, or (``owner_id``) one in the scope of an
    active read-and-reply grant from its owner to the caller."""
    q = select(Document).where(Document.id == document_id,
                               Document.status.in_(("consigned", "notified", "retrieved")))
    if owner_id is None:
        doc = s.scalar(q.where(Document.recipient_id == vault.recipient_id))
    else:
        grant = delegation.access(s, vault.recipient_id, owner_id, now)
        if grant.scope != "reply":
            raise NotFound("no such message")
        doc = s.scalar(q.where(Document.recipient_id == owner_id,
                               Document.org_id == (grant.org_id or Document.org_id)))
    if doc is None:
        raise NotFound("no such message")
    return doc


def reply(pb: Postbox, vault: Vault, document_id: str, text: str,
          attachments: list[tuple[str, bytes]] | None = None, dispute: bool = False,
          *, owner_id: str | None = None) -> ReplyReceipt:
    """Seal a reply to the sender of ``document_id`` and put its case on hold.

    With ``owner_id``, the caller answers as the owner's delegate: the reply belongs to the
    owner's document and case, and both the reply and its evidence name the delegate.
    """
    attachments = _check(text, attachments or [])
    if not text.strip() and not attachments and not dispute:
        raise InvalidInput("write a message, attach a file or mark the message as disputed")
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        doc = _document(s, vault, document_id, owner_id, now)
        recipient_id = doc.recipient_id
        org = s.get(Organisation, doc.org_id)
        if org is None or org.reply_public_key is None:
            raise InvalidInput("this sender does not accept replies in the postbox yet")
        case = s.get(Case, doc.case_id) if doc.case_id else None
        org_id, org_key, case_ref = org.id, org.reply_public_key, case.reference if case else None
        case_id = doc.case_id
    reply_id = new_id()
    kind = "dispute" if dispute else "reply"
    meta = {"format": FORMAT, "id": reply_id, "kind": kind, "in_reply_to": document_id,
            "case": case_ref or "", "created_at": evidence.utc_stamp(now)}
    delegate = {"delegate": vault.recipient_id} if owner_id is not None else {}
    meta.update(delegate)
    plain = _package(text, attachments, meta)
    blob_key = f"replies/{reply_id[:2]}/{reply_id[2:4]}/{reply_id}"
    with pb.uow() as uow:
        uow.session.add(PendingBlob(blob_key=blob_key, created_at=now))
        uow.commit()
    sealer = seal_document(io.BytesIO(plain), DocumentAddress(reply_id, org_id, KEY_VERSION),
                           org_key, {"kind": kind})
    try:
        pb.store.put(blob_key, sealer)  # type: ignore[arg-type]
    except StorageError as exc:
        raise storage_problem(exc) from exc
    sealed = sealer.result()
    with pb.uow() as uow:
        s = uow.session
        s.add(Reply(id=reply_id, org_id=org_id, recipient_id=recipient_id,
                    document_id=document_id, case_id=case_id, kind=kind, blob_key=blob_key,
                    sealed_key=sealed.stanza, ciphertext_sha256=sealed.ciphertext_sha256,
                    ciphertext_size=sealed.ciphertext_size, created_at=now))
        evidence.record(s, pb.keys, "replied",
                        evidence.Subject(org_id, recipient_id, document_id,
                                         sealed.ciphertext_sha256),
                        now, auth=vault.auth,
                        details={"reply": reply_id, "kind": kind, **delegate})
        webhooks.emit_document_event(s, "replied", org_id, recipient_id, document_id,
                                     now, reply_id=reply_id, kind=kind,
                                     **({"by_delegate": True} if delegate else {}))
        on_hold = put_on_hold(s, case_id, now) if case_id else False
        s.execute(delete(PendingBlob).where(PendingBlob.blob_key == blob_key))
        uow.commit()
    return ReplyReceipt(reply_id, on_hold)


def list_replies(pb: Postbox, org_ref: str, include_acknowledged: bool = False,
                 limit: int = 100) -> list[SealedReply]:
    with pb.uow() as uow:
        s = uow.session
        org = find_org(s, org_ref)
        q = (select(Reply, Case.reference).outerjoin(Case, Case.id == Reply.case_id)
             .where(Reply.org_id == org.id).order_by(Reply.created_at, Reply.id)
             .limit(min(max(limit, 1), 1000)))
        if not include_acknowledged:
            q = q.where(Reply.acknowledged_at.is_(None))
        return [SealedReply(r.id, r.org_id, r.document_id, ref, r.kind, r.created_at,
                            r.ciphertext_sha256, r.blob_key) for r, ref in s.execute(q)]


def reply_blob(pb: Postbox, org_ref: str, reply_id: str) -> BinaryIO:
    """The sealed reply, for the organisation that owns it (else "not found")."""
    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        row = uow.session.scalar(select(Reply).where(Reply.id == reply_id,
                                                     Reply.org_id == org.id))
        if row is None:
            raise NotFound("no such reply")
        key = row.blob_key
    try:
        return pb.store.open(key)
    except StorageError as exc:
        raise storage_problem(exc) from exc


def acknowledge(pb: Postbox, org_ref: str, reply_ids: list[str]) -> int:
    now = pb.clock.now()
    with pb.uow() as uow:
        org = find_org(uow.session, org_ref)
        rows = list(uow.session.scalars(select(Reply).where(
            Reply.org_id == org.id, Reply.id.in_(reply_ids), Reply.acknowledged_at.is_(None))))
        for row in rows:
            row.acknowledged_at = now
        uow.commit()
        return len(rows)


def open_reply(sealed: BinaryIO, reply_id: str, org_id: str, org_private: bytes) -> OpenedReply:
    """Decrypt and unpack a reply with the organisation's private key (client side)."""
    plain = b"".join(_chunks(sealed, reply_id, org_id, org_private))
    with zipfile.ZipFile(io.BytesIO(plain)) as zf:
        meta = json.loads(zf.read("reply.json"))
        text = zf.read("message.txt").decode("utf-8")
        files = [(n.removeprefix("attachments/"), zf.read(n)) for n in zf.namelist()
                 if n.startswith("attachments/")]
    if meta.get("id") != reply_id:
        raise InvalidInput("the reply does not carry its own id")
    return OpenedReply(reply_id, meta["kind"], text, meta["in_reply_to"], meta["case"] or None,
                       files)


def _chunks(sealed: BinaryIO, reply_id: str, org_id: str, org_private: bytes) -> Iterator[bytes]:
    yield from open_document(sealed, DocumentAddress(reply_id, org_id, KEY_VERSION),
                             BoxKeyPair.from_bytes(org_private).x25519)
