"""The holds queue as the console shows it: cases on hold, oldest first, and their replies.

Replies are sealed to the organisation's own key, which the service never holds. With the key
the person uploaded for their session (:func:`postbox.staff_sessions.org_key`), the replies of
each held case are opened here, in memory, for this one answer; without it each case says only
how many replies wait, and the page points to ``postbox replies pull``.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from crypto.errors import CryptoError
from postbox import cases, replies
from postbox.bootstrap import Postbox
from postbox.errors import NotFound, PostboxError
from postbox.models import Case, Reply
from postbox.orgs import find_org

MAX_REPLIES_PER_CASE = 20


@dataclass(frozen=True)
class ReadReply:
    reply_id: str
    kind: str
    created_at: datetime
    text: str | None  # None: could not be opened (shown as such, never guessed)
    attachments: tuple[tuple[str, int], ...]  # (name, size)


@dataclass(frozen=True)
class HeldCaseView:
    reference: str
    hold_since: datetime
    held_items: int
    reply_count: int
    replies: tuple[ReadReply, ...] | None  # None: no key in this session


def _read(pb: Postbox, org_id: str, rows: list[tuple[str, str, datetime]],
          private: bytes) -> tuple[ReadReply, ...]:
    read = []
    for reply_id, kind, created_at in rows:
        try:
            blob = replies.reply_blob(pb, org_id, reply_id)
            try:
                opened = replies.open_reply(blob, reply_id, org_id, private)
            finally:
                blob.close()
            read.append(ReadReply(reply_id, kind, created_at, opened.text,
                                  tuple((n, len(d)) for n, d in opened.attachments)))
        except (PostboxError, CryptoError, ValueError, KeyError, zipfile.BadZipFile):
            read.append(ReadReply(reply_id, kind, created_at, None, ()))
    return tuple(read)


def queue(pb: Postbox, org_ref: str, org_private: bytes | None = None) -> list[HeldCaseView]:
    """Cases on hold, oldest first; with the organisation key, their replies opened."""
    held = cases.holds_queue(pb, org_ref)
    if org_private is None or not held:
        return [HeldCaseView(h.reference, h.hold_since, h.held_items, h.replies, None)
                for h in held]
    with pb.uow() as uow:
        s = uow.session
        org_id = find_org(s, org_ref).id
        by_case: dict[str, list[tuple[str, str, datetime]]] = {}
        for reply_id, kind, created_at, reference in s.execute(
                select(Reply.id, Reply.kind, Reply.created_at, Case.reference)
                .join(Case, Case.id == Reply.case_id)
                .where(Case.org_id == org_id, Case.state == cases.ON_HOLD)
                .order_by(Reply.created_at.desc(), Reply.id)):
            bucket = by_case.setdefault(reference, [])
            if len(bucket) < MAX_REPLIES_PER_CASE:
                bucket.append((reply_id, kind, created_at))
    return [HeldCaseView(h.reference, h.hold_since, h.held_items, h.replies,
                         _read(pb, org_id, by_case.get(h.reference, []), org_private))
            for h in held]



def held_case(pb: Postbox, org_ref: str, reference: str) -> HeldCaseView:
    """One case on hold (for the confirmation before release or cancel), without replies."""
    for held in cases.holds_queue(pb, org_ref):
        if held.reference == reference:
            return HeldCaseView(held.reference, held.hold_since, held.held_items, held.replies,
                                None)
    raise NotFound("this case is not on hold")
