"""index.json of a postbox export (docs/export.md): what each file is, and the cases and replies.

The documents' entries are spooled to a temporary file while their bytes stream past (a zip
member cannot be open while another is written), then copied into the one ``index.json``
member after them; cases and replies are read with server-side cursors straight into it. So
the index of a large postbox is never held in memory as a whole.
"""
from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Self

from sqlalchemy import select
from sqlalchemy.orm import Session

from postbox.bootstrap import Postbox
from postbox.evidence import utc_stamp
from postbox.models import Case, Document, Reply
from postbox.reading import VISIBLE

FORMAT = "postbox-export/1"
COPY_PIECE = 1 << 16

README = """\
Your postbox export
===================

documents/   every document in your postbox, decrypted, in one folder per sender.
             File names are made safe for every computer; index.json keeps the exact
             subject and the sender's original file name.
index.json   what each file is: sender, subject, dates, case, folder, SHA-256 of the
             content, and the replies you sent (their content was sealed for the sender).
proofs/bundle.zip
             the signed evidence of every step of every document (delivery, notice,
             each opening), checkable offline by anyone:
                 postbox proofs verify proofs/bundle.zip
             and, to prove that a file is the document the evidence speaks of:
                 postbox proofs verify proofs/bundle.zip --document "documents/<sender>/<file>"

This export was itself recorded: each document has a "retrieved" evidence with the reason
"export". The format is described at docs/export.md of the Postbox project ({format}).
"""


def stamp(at: datetime | None) -> str | None:
    return utc_stamp(at) if at is not None else None


class ExportIndex:
    """The index under construction; ``write`` emits it once every document was added."""

    def __init__(self, header: dict[str, Any]) -> None:
        self._header = header
        self._documents = tempfile.TemporaryFile()  # noqa: SIM115 (closed by __exit__)
        self.count = 0
        self.senders: dict[str, dict[str, str]] = {}  # org id -> entry; one per organisation

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._documents.close()

    def add_sender(self, org_id: str, slug: str, name: str, folder: str) -> None:
        self.senders[org_id] = {"id": org_id, "slug": slug, "name": name, "folder": folder}

    def add_document(self, entry: dict[str, Any]) -> None:
        if self.count:
            self._documents.write(b",\n")
        self._documents.write(_line(entry))
        self.count += 1

    def write(self, out: Callable[[bytes], object], pb: Postbox, recipient_id: str,
              proofs: dict[str, Any] | None) -> None:
        """The whole index.json to ``out``, piece by piece."""
        head = {**self._header, "document_count": self.count, "proofs": proofs,
                "senders": sorted(self.senders.values(), key=lambda s: s["folder"].casefold())}
        text = json.dumps(head, indent=2, ensure_ascii=False)
        out(text[:-2].encode("utf-8") + b",\n  \"documents\": [\n")
        self._documents.seek(0)
        for piece in iter(lambda: self._documents.read(COPY_PIECE), b""):
            out(piece)
        out(b"\n  ],\n  \"cases\": [\n")
        _array(out, _cases(pb, recipient_id))
        out(b"\n  ],\n  \"replies\": [\n")
        _array(out, _replies(pb, recipient_id))
        out(b"\n  ]\n}\n")


def _line(entry: dict[str, Any]) -> bytes:
    return b"    " + json.dumps(entry, ensure_ascii=False, sort_keys=True).encode("utf-8")


def _array(out: Callable[[bytes], object], entries: Iterator[dict[str, Any]]) -> None:
    for n, entry in enumerate(entries):
        out((b",\n" if n else b"") + _line(entry))


def _cases(pb: Postbox, recipient_id: str) -> Iterator[dict[str, Any]]:
    mine = (select(Document.case_id).where(Document.recipient_id == recipient_id,
                                           Document.status.in_(VISIBLE),
                                           Document.case_id.is_not(None)))
    query = (select(Case.id, Case.reference, Case.org_id, Case.state, Case.hold_since)
             .where(Case.id.in_(mine)).order_by(Case.created_at, Case.id)
             .execution_options(yield_per=500))
    with Session(pb.engine) as s:
        for row in s.execute(query):
            yield {"id": row.id, "reference": row.reference, "sender": row.org_id,
                   "state": row.state, "on_hold_since": stamp(row.hold_since)}


def _replies(pb: Postbox, recipient_id: str) -> Iterator[dict[str, Any]]:
    query = (select(Reply.id, Reply.document_id, Reply.case_id, Reply.org_id, Reply.kind,
                    Reply.created_at, Reply.ciphertext_sha256)
             .where(Reply.recipient_id == recipient_id)
             .order_by(Reply.created_at, Reply.id).execution_options(yield_per=500))
    with Session(pb.engine) as s:
        for row in s.execute(query):
            yield {"id": row.id, "in_reply_to": row.document_id, "case": row.case_id,
                   "sender": row.org_id, "kind": row.kind, "sent_at": stamp(row.created_at),
                   "ciphertext_sha256": row.ciphertext_sha256}
