"""Adding one item to an open batch: check, seal for the recipient, store, record.

Every item ends in one of three outcomes, recorded under its key (unique per batch):
- ``accepted``: sealed and stored like any delivery, with ``submission_accepted`` evidence, but
  invisible (document status ``accepted``) until the batch closes;
- ``unreachable``: the organisation has no postbox for the recipient (or only an unactivated
  one, if the batch says so). Nothing of the document is kept, only its size and a keyed
  fingerprint (HMAC under a server subkey, so a database dump cannot confirm a guessed
  document); the sender prints from its own copy, and ``postbox.printing`` checks the copy
  against the fingerprint before it adds the cover page;
- ``rejected`` with a reason (empty, not a PDF, too large, malformed field). A rejected item
  delivered nothing, so the same key may be sent again with corrected content.

The same key with the same content returns the first result (``replayed``); with other content
it is a conflict. Memory stays bounded whatever the document size: content is streamed.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto.envelope import DocumentAddress
from postbox import delegation_keys, evidence, validation
from postbox.batches import BatchFull, BatchNotOpen, find_batch
from postbox.bootstrap import Postbox
from postbox.delivery import (
    SNIFF_BYTES,
    _case,
    _Checked,
    _discard_blob,
    _forget_intent,
    _request_hash,
    sniff,
)
from postbox.errors import (
    Conflict,
    DocumentTooLarge,
    InvalidInput,
    NotFound,
    StorageProblem,
    UnsupportedDocumentType,
)
from postbox.models import (
    Batch,
    BatchItem,
    Document,
    PendingBlob,
    Recipient,
    RecipientLink,
    new_id,
)
from postbox.writers import write_uow
from storage.errors import StorageError

if TYPE_CHECKING:
    from postbox.ingest_items import ItemChunk

_KEY = re.compile(r"[\x21-\x7e]{1,200}")
# Core statements on the tables, values passed as parameters: compiled once, not per call.
_DOCUMENTS = cast(Table, Document.__table__)
_ITEMS = cast(Table, BatchItem.__table__)
_INTENTS = cast(Table, PendingBlob.__table__)
_BATCHES = cast(Table, Batch.__table__)
_INSERT_DOCUMENT = insert(_DOCUMENTS)
_INSERT_ITEM = insert(_ITEMS)
_INSERT_INTENT = insert(_INTENTS)
_DELETE_INTENT = delete(_INTENTS).where(_INTENTS.c.blob_key == bindparam("b_blob_key"))
_BATCH = select(Batch.state, Batch.deliver_to_invited).where(
    Batch.id == bindparam("batch_id"), Batch.org_id == bindparam("org_id"))
_ITEM = select(BatchItem.seq, BatchItem.key, BatchItem.status, BatchItem.reason,
               BatchItem.document_id, BatchItem.request_hash).where(
    BatchItem.batch_id == bindparam("batch_id"), BatchItem.key == bindparam("key"))
_RECIPIENT = (select(Recipient.id, Recipient.x25519_public, Recipient.key_version,
                     Recipient.state)
              .join(RecipientLink, RecipientLink.recipient_id == Recipient.id)
              .where(RecipientLink.org_id == bindparam("org_id"),
                     RecipientLink.external_id == bindparam("external_id")))
_TAKE_SEQ = (update(_BATCHES)
             .where(_BATCHES.c.id == bindparam("b_batch_id"),
                    _BATCHES.c.org_id == bindparam("b_org_id"), _BATCHES.c.state == "open",
                    _BATCHES.c.item_count < _BATCHES.c.max_items)
             .values(item_count=_BATCHES.c.item_count + 1)
             .returning(_BATCHES.c.item_count))
PIECE = 1 << 16


@dataclass(frozen=True)
class ItemInput:
    key: str
    recipient: str
    subject: str
    filename: str
    case: str | None = None
    automated: bool = False
    due_date: date | None = None
    client_ref: str | None = None


@dataclass(frozen=True)
class ItemResult:
    seq: int
    key: str
    status: str
    reason: str | None
    document_id: str | None
    replayed: bool = False


def item_key(value: object) -> str:
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        raise InvalidInput("an item key is 1-200 printable ASCII characters")
    return value


def content_mac(pb: Postbox) -> hmac.HMAC:
    """The keyed fingerprint of an unreachable item's plaintext (see module docstring)."""
    return hmac.new(pb.keys.seal_key("batch-print-fingerprint"), digestmod=hashlib.sha256)


def _drain(stream: BinaryIO, *sinks: hmac.HMAC) -> None:
    while piece := stream.read(PIECE):
        for sink in sinks:
            sink.update(piece)


def _result(item: BatchItem, replayed: bool = False) -> ItemResult:
    return ItemResult(item.seq, item.key, item.status, item.reason, item.document_id, replayed)


@dataclass
class _Fields:
    recipient: str
    subject: str
    filename: str
    case: str | None
    client_ref: str | None


def _validated(item: ItemInput) -> _Fields:
    return _Fields(validation.external_id(item.recipient),
                   validation.display_text(item.subject, "subject", 200),
                   validation.filename(item.filename),
                   validation.case_reference(item.case) if item.case is not None else None,
                   None if item.client_ref is None
                   else validation.display_text(item.client_ref, "client_ref", 200))


@dataclass(frozen=True)
class _Known:
    """What one short transaction found before any content is stored."""

    item: ItemResult | None
    request_hash: str | None
    # (id, x25519_public, key_version, state) when the content is to be sealed and stored: a
    # blob intent for it is committed. None: unreachable (or a replay, or a rejection).
    recipient: Any


def _look(pb: Postbox, org_id: str, batch_id: str, key: str, recipient: str | None,
          blob_key: str) -> _Known:
    """Batch state, an item already under the key, the recipient; and, if this submission
    will be stored, the blob intent (all in one transaction)."""
    with write_uow(pb) as uow:
        s = uow.session
        batch = s.execute(_BATCH, {"batch_id": batch_id, "org_id": org_id}).first()
        if batch is None:
            raise NotFound("no such batch")
        if batch.state != "open":
            raise BatchNotOpen(f"this batch is {batch.state}; it takes no more items")
        known = s.execute(_ITEM, {"batch_id": batch_id, "key": key}).first()
        item = None if known is None else ItemResult(*known[:5])
        if known is not None and item is not None and item.status != "rejected":
            return _Known(item, known.request_hash, None)
        row = None if recipient is None else s.execute(
            _RECIPIENT, {"org_id": org_id, "external_id": recipient}).first()
        stored = row is not None and (row.state == "active" or batch.deliver_to_invited)
        if stored:
            s.execute(_INSERT_INTENT, {"blob_key": blob_key, "created_at": pb.clock.now()})
            uow.commit()
        return _Known(item, None, row if stored else None)


def add_item(pb: Postbox, org_id: str, batch_id: str, item: ItemInput,
             stream: BinaryIO, chunk: ItemChunk | None = None) -> ItemResult | None:
    """Record one item of an open batch (see the module docstring for the outcomes).

    With a ``chunk`` (``postbox.ingest_items``: many items of one request), a stored item's
    rows are written later with the chunk's others, and None is returned: the chunk has its
    result once written. Every other outcome is written at once, after the chunk's pending
    items, exactly as without a chunk."""
    key = item_key(item.key)
    save: Callable[..., tuple[ItemResult, bool]] = partial(_save, pb, org_id, batch_id, key)
    if chunk is not None:
        save = chunk.after_pending(save)
    fields: _Fields | None = None
    problem = None
    try:
        fields = _validated(item)
        head = stream.read(SNIFF_BYTES)
        if not head:
            raise InvalidInput("the document is empty")
        content_type = sniff(head)
        if content_type not in pb.settings.allowed_types:
            raise UnsupportedDocumentType("only PDF documents are accepted (checked by content)")
    except (InvalidInput, UnsupportedDocumentType) as exc:
        problem = str(exc)
    document_id = new_id() if chunk is None else chunk.document_id()
    blob_key = f"docs/{document_id[:2]}/{document_id[2:4]}/{document_id}"
    known = (_look if chunk is None else chunk.look)(
        pb, org_id, batch_id, key, fields.recipient if fields and not problem else None,
        blob_key)
    if fields is None or problem is not None:
        if known.item is not None and known.item.status != "rejected":
            raise Conflict("this item key was already used for a different document")
        return save(str(item.recipient)[:128], None, "rejected", reason=problem,
                    replaces=known.item is not None)[0]
    checked = _Checked(head, stream, pb.settings.max_document_bytes, True)

    def wanted() -> str:  # the request hash; the content hash is known only at the end
        assert checked.sha256 is not None and fields is not None  # as set up above
        return _request_hash(fields.recipient, fields.subject, fields.filename, fields.case,
                             item.automated, item.due_date, checked.sha256.hexdigest())

    if known.item is not None and known.item.status != "rejected":  # a retry: store nothing
        try:
            _drain(cast(BinaryIO, checked))
        except DocumentTooLarge:
            raise Conflict("this item key was already used for a different document") from None
        if known.request_hash != wanted():
            raise Conflict("this item key was already used for a different document")
        return replace(known.item, replayed=True)
    replaces = known.item is not None
    reject = partial(save, fields.recipient, fields.client_ref, "rejected", replaces=replaces)
    row = known.recipient
    if row is None:  # no postbox (or only an unactivated one, if the batch says so)
        mac = content_mac(pb)
        try:
            _drain(cast(BinaryIO, checked), mac)
        except DocumentTooLarge as exc:
            return reject(reason=str(exc))[0]
        return save(fields.recipient, fields.client_ref, "unreachable", request_hash=wanted(),
                    content_mac=mac.hexdigest(), plaintext_size=checked.size,
                    replaces=replaces)[0]

    submitted = pb.clock.now()
    address = DocumentAddress(document_id, row.id, row.key_version)
    assert content_type is not None  # it is one of the allowed types
    sealer = delegation_keys.seal_document(
        pb, org_id, cast(BinaryIO, checked), address, row.x25519_public,
        {"subject": fields.subject, "filename": fields.filename, "content_type": content_type})
    try:
        pb.store.put(blob_key, sealer)  # type: ignore[arg-type]
    except DocumentTooLarge as exc:
        _forget_intent(pb, blob_key)
        return reject(reason=str(exc))[0]
    except StorageError as exc:
        _forget_intent(pb, blob_key)
        raise StorageProblem(f"the document store is unavailable: {exc}") from None
    except BaseException:
        _forget_intent(pb, blob_key)
        raise
    sealed = sealer.result()
    doc = NewDocument(
        row=dict(  # noqa: C408 - keyword style reads like a row
            id=document_id, org_id=org_id, recipient_id=row.id, batch_id=batch_id,
            case_id=None, key_version=row.key_version,
            blob_key=blob_key, sealed_key=sealed.stanza, sealed_meta=sealed.sealed_meta,
            ciphertext_sha256=sealed.ciphertext_sha256, ciphertext_size=sealed.ciphertext_size,
            plaintext_size=sealed.plaintext_size, content_type=content_type,
            automated=item.automated, due_date=item.due_date, status="accepted",
            created_at=submitted, idempotency_key=None, request_hash=None, consigned_at=None,
            first_read_at=None, archived_at=None, deleted_at=None, evidence_head=None),
        subject=evidence.Subject(org_id, row.id, document_id, sealed.ciphertext_sha256,
                                 sealed.plaintext_commitment),
        case=fields.case)
    accepted: dict[str, Any] = {  # the item's values, as _save takes them
        "recipient": fields.recipient, "client_ref": fields.client_ref, "status": "accepted",
        "request_hash": wanted(), "commitment": sealed.plaintext_commitment,
        "plaintext_size": sealed.plaintext_size}
    if chunk is not None and not replaces:
        chunk.defer(key, doc, accepted)
        return None
    try:
        result, stored = save(**accepted, document=partial(write_document, pb, doc),
                              replaces=replaces)
    except BaseException:
        _discard_blob(pb, blob_key)
        raise
    if not stored:  # a concurrent request with this key won; ours was a replay
        _discard_blob(pb, blob_key)
    return result


@dataclass(frozen=True)
class NewDocument:
    """A stored item's document row (``case_id`` is resolved when written) and evidence."""

    row: dict[str, Any]
    subject: evidence.Subject
    case: str | None

    @property
    def blob_key(self) -> str:
        return str(self.row["blob_key"])


def write_document(pb: Postbox, doc: NewDocument, s: Session) -> str:
    """Insert one stored item's document with its ``submission_accepted`` evidence, and drop
    its blob intent (in the caller's transaction)."""
    submitted = doc.row["created_at"]
    # Core inserts: the ORM's unit of work costs more than the rest of this transaction.
    heads = evidence.append_many(s, pb.keys, "submission_accepted",
                                 [(doc.subject, None, submitted)])
    s.execute(_INSERT_DOCUMENT, {**doc.row, "evidence_head": heads[0],
                                 "case_id": _case(s, doc.row["org_id"], doc.case, submitted)})
    s.execute(_DELETE_INTENT, {"b_blob_key": doc.blob_key})
    return str(doc.row["id"])


def _replay(known: BatchItem, wanted: str | None) -> ItemResult:
    if wanted is None or known.request_hash != wanted:
        raise Conflict("this item key was already used for a different document")
    return _result(known, replayed=True)


Make = Callable[[Session], str]  # writes the document, returns its id


def _save(pb: Postbox, org_id: str, batch_id: str, key: str, recipient: str,
          client_ref: str | None, status: str, *, reason: str | None = None,
          request_hash: str | None = None, commitment: str | None = None,
          content_mac: str | None = None, plaintext_size: int | None = None,
          document: Make | None = None, replaces: bool = False) -> tuple[ItemResult, bool]:
    """Write the item (and its document, if any) in one transaction. A rejected item under the
    same key is replaced in place; anything else already there wins, and this submission is a
    replay (same request hash) or a conflict. Returns the result and whether we stored it.

    A new key is simply inserted (the unique key catches a concurrent twin, and the second
    attempt then finds it); only a replacement reads the row first, under its lock."""
    for attempt in (1, 2):
        now = pb.clock.now()
        reason = reason[:300] if reason else None
        values: dict[str, object] = {
            "client_ref": client_ref, "external_id": recipient, "status": status,
            "reason": reason, "request_hash": request_hash, "commitment": commitment,
            "content_mac": content_mac, "plaintext_size": plaintext_size, "updated_at": now}
        try:
            with write_uow(pb) as uow:
                s = uow.session
                known = None
                if replaces or attempt == 2:
                    known = s.scalar(select(BatchItem).where(BatchItem.batch_id == batch_id,
                                                             BatchItem.key == key)
                                     .with_for_update())
                if known is not None and known.status != "rejected":
                    return _replay(known, request_hash), False
                if known is not None and find_batch(s, org_id, batch_id).state != "open":
                    raise BatchNotOpen("this batch takes no more items")
                seq = known.seq if known is not None else _next_seq(s, org_id, batch_id)
                document_id = document(s) if document is not None else None
                values["document_id"] = document_id
                if known is None:
                    s.execute(_INSERT_ITEM, dict(id=new_id(), batch_id=batch_id, key=key,
                                                 seq=seq, created_at=now, **values))
                else:
                    for name, value in values.items():
                        setattr(known, name, value)
                uow.commit()
                return ItemResult(seq, key, status, reason, document_id), True
        except IntegrityError:
            if attempt == 2:  # a concurrent insert of the same key (or case): look again once
                raise Conflict("this item key is being sent twice at once; retry") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _next_seq(s: Session, org_id: str, batch_id: str) -> int:
    """Count the item against the batch (its number is the count) while it is open and not
    full; the row update also serialises concurrent items of one batch on PostgreSQL."""
    seq = s.scalar(_TAKE_SEQ, {"b_batch_id": batch_id, "b_org_id": org_id})
    if seq is None:
        batch = find_batch(s, org_id, batch_id)
        if batch.state != "open":
            raise BatchNotOpen(f"this batch is {batch.state}; it takes no more items")
        raise BatchFull(f"this batch already holds its maximum of {batch.max_items} items")
    return int(seq)
