"""Many items of one batch request written with few transactions (the ingest fast path).

``batch_items.add_item`` on its own spends two write transactions per item: one to commit the
blob intent before the put, one for the item, its document and its evidence. A request of a
few dozen items, handed an :class:`ItemChunk`, instead shares them:
- blob intents are reserved ``RESERVE`` at a time, in one transaction, always committed before
  any of their blobs is written (so the reaper still finds every orphan; a reserved key that
  is never used names no blob, and its intent is dropped when the request ends);
- the checks that used to run inside the first transaction (batch open, key already used,
  recipient) are reads, the batch's own row read once per request;
- every stored item is written at the end (or before any item that is written at once, so
  numbers follow the request's order; or after ``MAX_PENDING`` items), in one transaction:
  numbers taken from the batch row in one update, the documents, their signed
  ``submission_accepted`` evidence and the items in one statement each, and the intents
  dropped. Nothing of a chunk is visible before all of it.

Whenever that transaction cannot be had as a whole (the batch closed or filled up meanwhile, a
concurrent request sent one of the keys), each item is written alone exactly as ``add_item``
would have, so results (a replay, a conflict, "batch full") are the same item by item.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, delete, insert, update
from sqlalchemy.exc import IntegrityError

from postbox import evidence
from postbox.batch_items import (
    _BATCH,
    _INTENTS,
    _ITEM,
    _ITEMS,
    _RECIPIENT,
    ItemResult,
    NewDocument,
    _case,
    _discard_blob,
    _Known,
    _save,
    write_document,
)
from postbox.batches import BatchNotOpen
from postbox.bootstrap import Postbox
from postbox.errors import NotFound, PostboxError, StorageProblem
from postbox.models import Batch, Document, new_id
from postbox.writers import write_uow

RESERVE = 16  # intents committed per transaction; the CLI sends 16 items per request
MAX_PENDING = 64  # items per write transaction: a request of 1,000 holds the lock in steps
_DOCUMENTS = cast(Table, Document.__table__)
_BATCHES = cast(Table, Batch.__table__)
_TAKE_SEQS = (update(_BATCHES)
              .where(_BATCHES.c.id == bindparam("b_batch_id"),
                     _BATCHES.c.org_id == bindparam("b_org_id"), _BATCHES.c.state == "open",
                     _BATCHES.c.item_count + bindparam("b_n") <= _BATCHES.c.max_items)
              .values(item_count=_BATCHES.c.item_count + bindparam("b_n"))
              .returning(_BATCHES.c.item_count))
Outcome = ItemResult | PostboxError
T = TypeVar("T")


@dataclass(frozen=True)
class _Pending:
    index: int
    key: str
    doc: NewDocument
    item: dict[str, Any]  # the batch item's values, as ``_save`` takes them


class ItemChunk:
    """The stored items of one request, written together (see the module docstring).

    ``add_item(..., chunk=)`` calls :meth:`look`, :meth:`defer` and :meth:`after_pending`;
    the caller names each item's position with :meth:`at` and calls :meth:`finish` at the end
    (also when the request fails midway: what was stored is then written)."""

    def __init__(self, pb: Postbox, org_id: str, batch_id: str) -> None:
        self.pb, self.org_id, self.batch_id = pb, org_id, batch_id
        with pb.engine.connect() as conn:
            batch = conn.execute(_BATCH, {"batch_id": batch_id, "org_id": org_id}).first()
        if batch is None:
            raise NotFound("no such batch")
        if batch.state != "open":
            raise BatchNotOpen(f"this batch is {batch.state}; it takes no more items")
        self._to_invited = bool(batch.deliver_to_invited)
        self._recipients: dict[str, Any] = {}  # external id -> row, for this request only
        self._spare: list[str] = []  # document ids whose blob intent is committed, unused
        self._pending: list[_Pending] = []
        self._index = 0
        self.outcomes: dict[int, Outcome] = {}

    def at(self, index: int) -> None:
        """The position in the request of the item now being added."""
        self._index = index

    # -- called by batch_items.add_item --------------------------------------------------

    def look(self, pb: Postbox, org_id: str, batch_id: str, key: str, recipient: str | None,
             blob_key: str) -> _Known:
        """What ``batch_items._look`` finds, by reads; an intent for ``blob_key`` if stored."""
        if any(p.key == key for p in self._pending):
            self.flush()  # the repeated key must see its first use
        with pb.engine.connect() as conn:
            known = conn.execute(_ITEM, {"batch_id": batch_id, "key": key}).first()
            if known is not None and known.status != "rejected":
                return _Known(ItemResult(*known[:5]), known.request_hash, None)
            row = None
            if recipient is not None:
                row = self._recipients.get(recipient)
                if row is None:
                    row = conn.execute(_RECIPIENT, {"org_id": org_id,
                                                    "external_id": recipient}).first()
                    if row is not None:
                        self._recipients[recipient] = row
        item = None if known is None else ItemResult(*known[:5])
        stored = row is not None and (row.state == "active" or self._to_invited)
        if stored:
            self._reserve(blob_key)
        return _Known(item, None, row if stored else None)

    def defer(self, key: str, doc: NewDocument, item: dict[str, Any]) -> None:
        self._pending.append(_Pending(self._index, key, doc, item))
        if len(self._pending) >= MAX_PENDING:
            self.flush()

    def after_pending(self, save: Callable[..., T]) -> Callable[..., T]:
        """``save`` for an item written at once: the pending ones are written first."""
        def first_pending(*args: Any, **kwargs: Any) -> T:
            self.flush()
            return save(*args, **kwargs)
        return first_pending

    # -- intents and writes --------------------------------------------------------------

    def _reserve(self, blob_key: str) -> None:
        """Commit an intent for ``blob_key`` (and spare ones for the next items) before any
        blob is written. A spare key is a fresh document id's path, as add_item makes them."""
        spare = [_blob_key(d) for d in self._spare]
        if blob_key in spare:
            del self._spare[spare.index(blob_key)]
            return
        now = self.pb.clock.now()
        ids = [new_id() for _ in range(RESERVE - 1)]
        with write_uow(self.pb) as uow:
            uow.session.execute(insert(_INTENTS), [
                {"blob_key": k, "created_at": now} for k in [blob_key, *map(_blob_key, ids)]])
            uow.commit()
        self._spare.extend(ids)

    def document_id(self) -> str:
        """The next item's document id: one whose blob intent is already committed, if any
        (an item that stores nothing leaves it to the next)."""
        return self._spare[-1] if self._spare else new_id()

    def flush(self) -> None:
        """Write the pending items: together if possible, else one by one."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            self._write_all(pending)
        except _OneByOne:
            for p in pending:
                self._write_one(p)

    def finish(self) -> dict[int, Outcome]:
        """Write what is pending and drop unused intents; the results by position."""
        self.flush()
        if self._spare:
            spare, self._spare = self._spare, []
            with write_uow(self.pb) as uow:
                uow.session.execute(delete(_INTENTS).where(
                    _INTENTS.c.blob_key.in_([_blob_key(d) for d in spare])))
                uow.commit()
        return self.outcomes

    def _write_all(self, pending: list[_Pending]) -> None:
        now = self.pb.clock.now()
        try:
            with write_uow(self.pb) as uow:
                s = uow.session
                last = s.scalar(_TAKE_SEQS, {"b_batch_id": self.batch_id,
                                             "b_org_id": self.org_id, "b_n": len(pending)})
                if last is None:  # closed or full meanwhile: let each item say which
                    raise _OneByOne
                first = int(last) - len(pending) + 1
                heads = evidence.append_many(
                    s, self.pb.keys, "submission_accepted",
                    [(p.doc.subject, None, p.doc.row["created_at"]) for p in pending])
                s.execute(insert(_DOCUMENTS), [
                    {**p.doc.row, "evidence_head": head,
                     "case_id": _case(s, self.org_id, p.doc.case, p.doc.row["created_at"])}
                    for p, head in zip(pending, heads, strict=True)])
                s.execute(insert(_ITEMS), [
                    {"id": new_id(), "batch_id": self.batch_id, "key": p.key, "seq": first + n,
                     "created_at": now, "updated_at": now, "reason": None,
                     "content_mac": None, "document_id": p.doc.row["id"],
                     "external_id": p.item["recipient"], **_item_values(p.item)}
                    for n, p in enumerate(pending)])
                s.execute(delete(_INTENTS).where(
                    _INTENTS.c.blob_key.in_([p.doc.blob_key for p in pending])))
                uow.commit()
        except IntegrityError:  # a concurrent request used one of the keys
            raise _OneByOne from None
        for n, p in enumerate(pending):
            self.outcomes[p.index] = ItemResult(first + n, p.key, "accepted", None,
                                                str(p.doc.row["id"]))

    def _write_one(self, p: _Pending) -> None:
        """As add_item writes a stored item on its own (a replay or an error per item)."""
        try:
            result, stored = _save(self.pb, self.org_id, self.batch_id, p.key,
                                   document=lambda s: write_document(self.pb, p.doc, s),
                                   **p.item)
        except StorageProblem:
            _discard_blob(self.pb, p.doc.blob_key)
            raise
        except PostboxError as exc:
            _discard_blob(self.pb, p.doc.blob_key)
            self.outcomes[p.index] = exc
            return
        except BaseException:
            _discard_blob(self.pb, p.doc.blob_key)
            raise
        if not stored:  # a concurrent request with this key won; ours was a replay
            _discard_blob(self.pb, p.doc.blob_key)
        self.outcomes[p.index] = result


class _OneByOne(Exception):
    """The chunk cannot be written as a whole; write its items one by one."""


def _blob_key(document_id: str) -> str:
    return f"docs/{document_id[:2]}/{document_id[2:4]}/{document_id}"


def _item_values(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in ("client_ref", "status", "request_hash", "commitment",
                                 "plaintext_size")}

