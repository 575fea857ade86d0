"""Data portability: "Export my postbox" as one zip, streamed (format: docs/export.md).

A fresh PIN + TOTP grants the export (``authorise_export``): checked exactly like a login, so
failures count towards the same lockout and an already-used TOTP step is refused. The zip holds
``README.txt``, the recipient's proof bundle (``proofs/bundle.zip``, with the commitment salts),
every visible document decrypted in a folder per sender, and ``index.json``. It is written to a
non-seekable sink that the caller drains chunk by chunk (members use data descriptors and
ZIP64), documents are read in pages and decrypted in bounded pieces, so memory stays flat
whatever the size of the postbox; only the zip's central directory (about 150 bytes a member)
and the commitment salts (about 100 bytes a document) grow with it.

Each document gets a ``retrieved`` evidence with ``details.reason = "export"`` once its last
byte was taken by the caller. A document that fails its integrity check (or a store outage)
aborts the export: the zip then never gets its end, so no partial document looks complete.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from postbox import auth
from postbox.auth import Vault
from postbox.bootstrap import Postbox
from postbox.errors import AuthenticationFailed, NotFound, SessionExpired
from postbox.models import Recipient
from postbox.portability_documents import (
    ExportedDocument,
    commitment_salt,
    documents,
    metadata,
    plaintext,
    record_export_retrieval,
)
from postbox.portability_index import FORMAT, README, ExportIndex, stamp
from postbox.portability_names import (
    UniqueNames,
    document_stem,
    extension,
    safe_segment,
)
from postbox.proofs.export import BundleStream, ZipSink
from postbox.proofs.selection import Selection

log = logging.getLogger("postbox.portability")
CHUNK = 1 << 16
BUNDLE = "proofs/bundle.zip"
_PIN_SHAPE = re.compile(r"[0-9]{6,12}")
__all__ = ["ExportGrant", "PostboxExport", "authorise_export", "export_postbox", "start_export"]


@dataclass(frozen=True, repr=False)
class ExportGrant:
    """Proof that the person at the keyboard just gave PIN + TOTP for this vault."""

    vault: Vault
    auth: dict[str, Any]  # what the export's evidence says about how they authenticated
    granted_at: datetime


def authorise_export(pb: Postbox, vault: Vault, pin: str, otp: str) -> ExportGrant:
    """Check a fresh PIN + TOTP for the vault's own recipient, like a login (lockout counted,
    TOTP step single use). Malformed PINs fail without counting, as at the login."""
    if not isinstance(pin, str) or not _PIN_SHAPE.fullmatch(pin):
        raise AuthenticationFailed()
    with pb.uow() as uow:
        recipient = uow.session.get(Recipient, vault.recipient_id)
        if recipient is None or recipient.state != "active":
            raise SessionExpired()
        # The login's own check (auth.py): same throttle, lockout, dummy work and replay guard.
        _, _, step = auth.confirm_factors(pb, uow.session, recipient.email, pin, otp)
        uow.commit()
    log.info("postbox export authorised")
    return ExportGrant(vault, {"methods": ["pin", "totp"], "totp_step": step,
                               "session": vault.session_hash[:16]}, pb.clock.now())


@dataclass
class ExportReport:
    """Filled in while the export streams; complete once iteration ended."""

    documents: int = 0
    bytes: int = 0
    recorded: int = 0
    evidence_count: int = 0
    cosigned: bool | None = None


class PostboxExport:
    """Iterate to get the zip's bytes. Setup errors (no signing key) surface in the
    constructor, before the first byte; ``report`` is complete once iteration ends."""

    def __init__(self, pb: Postbox, grant: ExportGrant) -> None:
        self.pb, self.grant = pb, grant
        self.created = pb.clock.now()
        self.filename = f"postbox-export-{self.created:%Y-%m-%d}.zip"
        self.report = ExportReport()
        vault = grant.vault
        self._salts: dict[str, bytes] = {}
        for doc in documents(pb, vault.recipient_id):
            salt = commitment_salt(metadata(vault, doc))
            if salt is not None:
                self._salts[doc.id] = salt
        try:
            self._bundle: BundleStream | None = BundleStream(
                pb, Selection(recipient=vault.recipient_id), self._salts)
        except NotFound:  # an empty postbox has no evidence to prove
            self._bundle = None
        with pb.uow() as uow:
            recipient = uow.session.get(Recipient, vault.recipient_id)
            self._email = recipient.email if recipient is not None else None

    def __iter__(self) -> Iterator[bytes]:
        sink = ZipSink()
        header = {"format": FORMAT, "created": stamp(self.created),
                  "service": self.pb.settings.public_url,
                  "recipient": {"id": self.grant.vault.recipient_id, "email": self._email}}
        with zipfile.ZipFile(sink, "w") as zf, ExportIndex(header) as index:  # type: ignore[call-overload]
            self._small(zf, "README.txt", README.format(format=FORMAT).encode())
            yield from _drained(sink)
            proofs = None
            if self._bundle is not None:
                with self._member(zf, BUNDLE, self.created, zipfile.ZIP_STORED) as fh:
                    for chunk in self._bundle:
                        fh.write(chunk)
                        if sink.pending >= CHUNK:
                            yield from _drained(sink)
                yield from _drained(sink)
                proofs = self._proofs()
            folders, names = UniqueNames(), {}
            for doc in documents(self.pb, self.grant.vault.recipient_id):
                if doc.org_id not in names:
                    folder = folders.claim(safe_segment(doc.org_name, doc.org_slug),
                                           tiebreak=doc.org_slug)
                    names[doc.org_id] = UniqueNames()
                    index.add_sender(doc.org_id, doc.org_slug, doc.org_name, folder)
                yield from self._document(zf, sink, index, names[doc.org_id], doc)
                # The consumer has taken every byte of it: only now is it handed over.
                if record_export_retrieval(self.pb, self.grant.vault, self.grant.auth, doc.id):
                    self.report.recorded += 1
            with self._member(zf, "index.json", self.created, zipfile.ZIP_DEFLATED) as fh:
                index.write(fh.write, self.pb, self.grant.vault.recipient_id, proofs)
        yield from _drained(sink)
        log.info("postbox export streamed: %d documents, %d bytes", self.report.documents,
                 self.report.bytes)

    def _document(self, zf: zipfile.ZipFile, sink: ZipSink, index: ExportIndex,
                  names: UniqueNames, doc: ExportedDocument) -> Iterator[bytes]:
        meta = metadata(self.grant.vault, doc) or {}
        folder = index.senders[doc.org_id]["folder"]
        name = names.claim(document_stem(doc.received_at, meta.get("subject"), doc.id),
                           extension(doc.content_type), tiebreak=doc.id)
        path = f"documents/{folder}/{name}"
        digest, size = hashlib.sha256(), 0
        with self._member(zf, path, doc.received_at, zipfile.ZIP_STORED) as fh:
            for piece in plaintext(self.pb, self.grant.vault, doc):
                fh.write(piece)
                digest.update(piece)
                size += len(piece)
                if sink.pending >= CHUNK:
                    yield from _drained(sink)
        yield from _drained(sink)
        salt = commitment_salt(meta)  # also for a document delivered after the bundle was made
        index.add_document({
            "id": doc.id, "path": path, "sender": doc.org_id, "subject": meta.get("subject"),
            "filename": meta.get("filename"), "content_type": doc.content_type, "size": size,
            "sha256": digest.hexdigest(), "ciphertext_sha256": doc.ciphertext_sha256,
            "commitment_salt": _b64(salt) if salt is not None else None,
            "received_at": stamp(doc.received_at),
            "due_date": doc.due_date.isoformat() if doc.due_date else None,
            "first_read_at": stamp(doc.read_at), "folder": doc.folder, "case": doc.case_id,
            "superseded_by": doc.superseded_by, "retracted": doc.retracted})
        self.report.documents += 1
        self.report.bytes += size

    def _proofs(self) -> dict[str, Any]:
        assert self._bundle is not None  # only called after the bundle was written
        report = self._bundle.report
        self.report.evidence_count = report.evidence_count
        self.report.cosigned = report.cosigned
        return {"path": BUNDLE, "evidence_count": report.evidence_count,
                "checkpoint_size": report.checkpoint_size,
                "cosigned_by": list(report.cosigned_by),
                "cosignatures_required": report.cosignatures_required,
                "salts": len(self._salts)}

    def _member(self, zf: zipfile.ZipFile, name: str, when: datetime,
                compression: int) -> IO[bytes]:
        info = zipfile.ZipInfo(name, date_time=max(when.timetuple()[:6], (1980, 1, 1, 0, 0, 0)))
        info.compress_type = compression
        info.external_attr = 0o644 << 16  # a plain readable file when extracted on Unix
        return zf.open(info, "w", force_zip64=True)

    def _small(self, zf: zipfile.ZipFile, name: str, data: bytes) -> None:
        with self._member(zf, name, self.created, zipfile.ZIP_DEFLATED) as fh:
            fh.write(data)


def _drained(sink: ZipSink) -> Iterator[bytes]:
    data = sink.drain()
    if data:  # an empty chunk would end a chunked HTTP response early on some servers
        yield data


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def export_postbox(pb: Postbox, grant: ExportGrant) -> PostboxExport:
    """The export for a grant; iterate it for the zip's bytes."""
    return PostboxExport(pb, grant)


def start_export(pb: Postbox, vault: Vault, pin: str, otp: str) -> PostboxExport:
    """What the export page calls: check the fresh factors, then prepare the stream."""
    return export_postbox(pb, authorise_export(pb, vault, pin, otp))
