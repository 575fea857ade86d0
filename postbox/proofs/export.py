"""Exporting a proof bundle: a streamed zip whose memory use does not grow with its size.

A bundle covers a selection (one document, a batch, a recipient, or a period; optionally
limited to one organisation) with every evidence of each document it touches, from the first
record of its chain, in log order, each with its inclusion proof into ONE checkpoint. Rows are
read with a server-side cursor, proofs come from a bounded tile cache, inclusion lines wait in
a temporary file while the evidence entry is written, and the zip is written to a non-seekable
sink that the caller drains chunk by chunk (a file, or an HTTP response).

Reads use sessions on the plain engine, never the service's write transactions, so a long
export does not hold SQLite's write lock.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from crypto.envelope import DocumentAddress, open_metadata
from crypto.errors import OpenError
from crypto.merkle import record_hash
from crypto.signing import key_id, sign
from postbox import checkpoints, log, tilestore, trust
from postbox.auth import Vault
from postbox.bootstrap import Postbox
from postbox.errors import ConfigError, NotFound
from postbox.models import (
    DelegateRetrieval,
    Document,
    Evidence,
    Organisation,
    Recipient,
    RecipientLink,
)
from postbox.proofs import format as fmt
from postbox.proofs.guide import verify_md
from postbox.proofs.selection import Selection, condition, select_evidence
from postbox.proofs.trustfile import parse_trust

LISTED_RECIPIENTS = 1000
CHUNK = 1 << 16
__all__ = ["BundleStream", "ExportReport", "Selection", "certificate", "commitment_salts",
           "export_bundle", "select_evidence"]


@dataclass
class ExportReport:
    evidence_count: int
    checkpoint_size: int
    cosigned_by: tuple[str, ...]
    cosignatures_required: int
    files: dict[str, str] = field(default_factory=dict)  # name -> sha256

    @property
    def cosigned(self) -> bool:
        return len(self.cosigned_by) >= self.cosignatures_required


class ZipSink:
    """A write-only, non-seekable stream whose bytes are taken out by ``drain``."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._pos = 0
        self.pending = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._pos += len(data)
        self.pending += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def seekable(self) -> bool:
        return False

    def drain(self) -> bytes:
        out, self._parts, self.pending = b"".join(self._parts), [], 0
        return out


class BundleStream:
    """Iterate to get the zip's bytes; ``report`` is complete once iteration ends."""

    def __init__(self, pb: Postbox, selection: Selection, salts: dict[str, bytes] | None) -> None:
        self.pb, self.selection, self.salts = pb, selection, salts or {}
        signer = pb.keys.evidence_key
        if signer is None:
            raise ConfigError("the evidence signing key is missing; run `postbox init`")
        self._signer = signer
        log.sequence_pending(pb, wait=True)
        cond = condition(selection)
        with Session(pb.engine) as s:
            top = s.scalar(select(func.max(Evidence.leaf_index)).where(cond))
            if s.scalar(select(func.count()).select_from(Evidence).where(
                    cond, Evidence.leaf_index.is_(None))):
                log.sequence_pending(pb, wait=True)  # committed while we looked: take it too
                top = s.scalar(select(func.max(Evidence.leaf_index)).where(cond))
        if top is None:
            raise NotFound("no evidence matches this selection")
        self.trust = trust.trust_document(pb)
        required = parse_trust(self.trust).cosignatures_required
        chosen = checkpoints.covering(pb, top + 1, required)
        self.checkpoint = chosen if chosen is not None else checkpoints.sign_checkpoint(pb)
        self.report = ExportReport(0, self.checkpoint.size, self.checkpoint.witnesses, required)
        self._now = pb.clock.now()

    def __iter__(self) -> Iterator[bytes]:
        sink = ZipSink()
        files: dict[str, dict[str, Any]] = {}
        zipped = zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED,  # type: ignore[call-overload]
                                 compresslevel=6)
        with zipped as zf:
            for name, data in ((fmt.GUIDE, self._guide()), (fmt.TRUST, self.trust),
                               (fmt.CHECKPOINT, self.checkpoint.note)):
                files[name] = self._entry(zf, name, [data])
                yield sink.drain()
            with tempfile.TemporaryFile() as proofs:
                parties = _Parties()
                entry = self._open(zf, fmt.EVIDENCES)
                for line, proof_line, row in self._rows():
                    entry.write(line)
                    proofs.write(proof_line)
                    parties.add(row)
                    self.report.evidence_count += 1
                    if sink.pending > CHUNK:
                        yield sink.drain()
                files[fmt.EVIDENCES] = entry.close()
                yield sink.drain()
                proofs.seek(0)
                entry = self._open(zf, fmt.INCLUSION)
                for block in iter(lambda: proofs.read(CHUNK), b""):
                    entry.write(block)
                    if sink.pending > CHUNK:
                        yield sink.drain()
                files[fmt.INCLUSION] = entry.close()
                yield sink.drain()
            files[fmt.PARTIES] = self._entry(zf, fmt.PARTIES, [parties.document(self.pb)])
            if self.salts:
                salts = {doc: fmt.b64(salt) for doc, salt in sorted(self.salts.items())}
                files[fmt.SALTS] = self._entry(zf, fmt.SALTS, [json.dumps(salts, indent=2)
                                                               .encode() + b"\n"])
            manifest = self._manifest(files)
            self._entry(zf, fmt.MANIFEST, [manifest])
            signature = sign(manifest, self._signer.seed, fmt.MANIFEST_CONTEXT)
            self._entry(zf, fmt.MANIFEST_SIG, [fmt.b64(signature).encode() + b"\n"])
        self.report.files = {name: info["sha256"] for name, info in files.items()}
        yield sink.drain()

    def _rows(self) -> Iterator[tuple[bytes, bytes, Any]]:
        query = (select(Evidence.leaf_index, Evidence.body, Evidence.signature,
                        Evidence.countersignature, Evidence.org_id, Evidence.recipient_id,
                        Evidence.document_id, Recipient.ed25519_public)
                 # A delegate's open is countersigned by the delegate (postbox/delegation*.py).
                 .outerjoin(DelegateRetrieval, DelegateRetrieval.evidence_id == Evidence.id)
                 .outerjoin(Recipient, and_(Recipient.id == func.coalesce(
                     DelegateRetrieval.delegate_id, Evidence.recipient_id),
                                            Evidence.countersignature.is_not(None)))
                 .where(condition(self.selection),
                        Evidence.leaf_index < self.checkpoint.size)
                 .order_by(Evidence.leaf_index)
                 .execution_options(yield_per=500))
        size = self.checkpoint.size
        with Session(self.pb.engine) as rows, Session(self.pb.engine) as tiles:
            reader = tilestore.TileReader(tilestore.db_fetch(tiles), max_tiles=32)
            paths = tilestore.PathMaker(reader, size)
            for row in rows.execute(query):
                body = bytes(row.body)
                proof = paths.path(row.leaf_index)
                line = fmt.evidence_line(
                    row.leaf_index, body, bytes(row.signature or b""),
                    bytes(row.countersignature) if row.countersignature is not None else None,
                    bytes(row.ed25519_public) if row.ed25519_public is not None else None)
                yield line, fmt.inclusion_line(row.leaf_index, record_hash(body), proof), row

    def _guide(self) -> bytes:
        return verify_md(checkpoints.origin(self.pb), self.selection.describe(),
                         self.checkpoint.size, self._now).encode()

    def _manifest(self, files: dict[str, dict[str, Any]]) -> bytes:
        doc = {
            "format": fmt.FORMAT,
            "created": fmt.stamp(self._now),
            "service": self.pb.settings.public_url,
            "origin": checkpoints.origin(self.pb),
            "selection": self.selection.describe(),
            "checkpoint": {"size": self.checkpoint.size,
                           "root": fmt.b64(self.checkpoint.checkpoint.root)},
            "evidence_count": self.report.evidence_count,
            "key_id": self._signer.key_id,
            "files": dict(sorted(files.items())),
        }
        return json.dumps(doc, indent=2).encode() + b"\n"

    def _open(self, zf: zipfile.ZipFile, name: str) -> _Entry:
        info = zipfile.ZipInfo(name, date_time=self._now.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        return _Entry(zf.open(info, "w", force_zip64=True))

    def _entry(self, zf: zipfile.ZipFile, name: str, parts: Any) -> dict[str, Any]:
        entry = self._open(zf, name)
        for part in parts:
            entry.write(part)
        return entry.close()


class _Entry:
    """A zip member being written, hashed as it goes."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh, self._hash, self._size = fh, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self._fh.write(data)
        self._hash.update(data)
        self._size += len(data)

    def close(self) -> dict[str, Any]:
        self._fh.close()
        return {"sha256": self._hash.hexdigest(), "size": self._size}


class _Parties:
    """Who appears in the bundle: all organisations, the first recipients (bounded)."""

    def __init__(self) -> None:
        self.orgs: set[str] = set()
        self.recipients: dict[str, None] = {}  # ordered set, at most LISTED_RECIPIENTS

    def add(self, row: Any) -> None:
        if row.org_id:
            self.orgs.add(row.org_id)
        if row.recipient_id and len(self.recipients) < LISTED_RECIPIENTS:
            self.recipients.setdefault(row.recipient_id, None)

    def document(self, pb: Postbox) -> bytes:
        with Session(pb.engine) as s:
            orgs = s.execute(select(Organisation.id, Organisation.slug, Organisation.name)
                             .where(Organisation.id.in_(self.orgs))
                             .order_by(Organisation.name)).all()
            ids = list(self.recipients)
            links = s.execute(select(RecipientLink.recipient_id, RecipientLink.org_id,
                                     RecipientLink.external_id)
                              .where(RecipientLink.recipient_id.in_(ids),
                                     RecipientLink.org_id.in_(self.orgs))).all()
            keys = dict(s.execute(select(Recipient.id, Recipient.ed25519_public)
                                  .where(Recipient.id.in_(ids))).all())
        external: dict[str, dict[str, str]] = {}
        for rid, org_id, ext in links:
            external.setdefault(rid, {})[org_id] = ext
        doc = {
            "organisations": [{"id": i, "slug": slug, "name": name} for i, slug, name in orgs],
            "recipients": [{"id": rid, "external_ids": external.get(rid, {}),
                            "countersigning_key_id": key_id(bytes(keys[rid]))
                            if keys.get(rid) else None} for rid in ids],
            "recipients_listed_max": LISTED_RECIPIENTS,
        }
        return json.dumps(doc, indent=2, ensure_ascii=False).encode() + b"\n"


def export_bundle(pb: Postbox, selection: Selection, out: IO[bytes],
                  salts: dict[str, bytes] | None = None) -> ExportReport:
    """Write the bundle for ``selection`` to ``out``; the report says what it holds."""
    stream = BundleStream(pb, selection, salts)
    for chunk in stream:
        if chunk:
            out.write(chunk)
    return stream.report


def certificate(pb: Postbox, selection: Selection) -> Iterator[bytes]:
    """The PDF certificate of the bundle for ``selection``, as chunks; the bundle is made and
    verified (in this process) before the first chunk, so errors surface before streaming."""
    from postbox.proofs.certificate import render_certificate
    from postbox.proofs.verify import verify_bundle

    with tempfile.TemporaryDirectory(prefix="postbox-certificate-") as tmp:
        bundle = Path(tmp) / "bundle.zip"
        with open(bundle, "wb") as fh:
            export_bundle(pb, selection, fh)
        report = verify_bundle(bundle, jobs=1)  # no fork inside a threaded server
        pdf = tempfile.SpooledTemporaryFile(max_size=4 << 20)
        render_certificate(bundle, pdf, report=report, issued=pb.clock.now())
    pdf.seek(0)
    return _chunks_of(pdf)


def _chunks_of(fh: IO[bytes]) -> Iterator[bytes]:
    with fh:
        yield from iter(lambda: fh.read(CHUNK), b"")


def commitment_salts(pb: Postbox, vault: Vault, document_ids: list[str]) -> dict[str, bytes]:
    """The recipient's own commitment salts (from the sealed metadata their keys open), for a
    bundle they export to prove a document's content later."""
    out: dict[str, bytes] = {}
    with Session(pb.engine) as s:
        docs = s.scalars(select(Document).where(Document.id.in_(document_ids),
                                                Document.recipient_id == vault.recipient_id))
        for doc in docs:
            address = DocumentAddress(doc.id, doc.recipient_id, doc.key_version)
            try:
                meta = open_metadata(doc.sealed_key, doc.sealed_meta, address, vault.keys.x25519)
                out[doc.id] = fmt.unb64(meta["commitment_salt"], "commitment salt")
            except (OpenError, KeyError, fmt.BundleFormatError):
                continue
    return out
