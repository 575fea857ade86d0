"""Paper fallback for unreachable batch items: a cover page, then the sender's own document.

The service keeps no plaintext of an unreachable item (``postbox.batch_items``), so the sender
sends its copy again; it must match the keyed fingerprint taken at submission, so the cover
page (which names the batch, the item and the content hash) can only go on top of exactly the
document that was submitted. The merged PDF is built in a spooled temporary file and handed
back; nothing is stored. The cover page puts the postal address, when given, where a DIN 5008
window envelope (C4/C5/DL, form B) shows it.
"""
from __future__ import annotations

import hashlib
import hmac
import io
from dataclasses import dataclass, replace
from datetime import datetime
from tempfile import SpooledTemporaryFile
from typing import IO, BinaryIO

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas
from sqlalchemy import select

from postbox import validation
from postbox.batch_items import content_mac
from postbox.batches import find_batch
from postbox.bootstrap import Postbox
from postbox.errors import Conflict, DocumentTooLarge, InvalidInput, NotFound
from postbox.models import BatchItem, Organisation

PIECE = 1 << 16
SPOOL = 8 << 20
MAX_ADDRESS_LINES = 6


@dataclass(frozen=True)
class Cover:
    org_name: str
    batch_id: str
    batch_reference: str | None
    seq: int
    key: str
    recipient: str
    submitted_at: datetime
    sha256: str
    address: list[str]


def postal_address(text: str | None) -> list[str]:
    """1-6 printable lines of at most 60 characters, or none."""
    if text is None or not text.strip():
        return []
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) > MAX_ADDRESS_LINES:
        raise InvalidInput(f"a postal address has at most {MAX_ADDRESS_LINES} lines")
    return [validation.display_text(line, "postal address line", 60) for line in lines if line]


def draw_cover(org_name: str, address: list[str], title: str, lines: list[str],
               sha_label: str, sha256: str) -> bytes:
    """One A4 cover page: the address where a DIN 5008 form B window shows it, then what the
    letter is and the SHA-256 of the letter that follows (shared by every paper path)."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, pageCompression=1)
    c.setTitle(title)
    c.setAuthor(org_name)
    height = A4[1]
    left = 20 * mm
    c.setFont("Helvetica", 7)
    c.drawString(left, height - 50 * mm, org_name[:80])  # return line over the window
    c.setFont("Helvetica", 11)
    y = height - 57 * mm
    for line in address or ["(postal address not given)"]:
        c.drawString(left, y, line)
        y -= 5 * mm
    text = c.beginText(25 * mm, height - 110 * mm)
    text.setFont("Helvetica-Bold", 14)
    text.textLine(f"A letter from {org_name[:70]}")
    text.setFont("Helvetica", 11)
    text.moveCursor(0, 8)
    for line in lines:
        text.textLine(line)
    text.moveCursor(0, 8)
    text.setFont("Helvetica", 8)
    text.textLine(sha_label)
    text.setFont("Courier", 8)
    text.textLine(sha256)
    c.drawText(text)
    c.showPage()
    c.save()
    return buf.getvalue()


def cover_page(cover: Cover) -> bytes:
    return draw_cover(cover.org_name, cover.address, "Postbox paper delivery", [
        "This letter is sent to you on paper because it could not be delivered to",
        "a digital postbox. The letter itself follows this page.", "",
        f"Submitted:   {cover.submitted_at.strftime('%Y-%m-%d %H:%M UTC')}",
        f"Batch:       {(cover.batch_reference or cover.batch_id)[:60]}",
        f"Item:        {cover.seq}  ({cover.key[:50]})",
        f"Recipient:   {cover.recipient}"],
        "SHA-256 of the letter that follows (as submitted):", cover.sha256)


def print_item(pb: Postbox, org_id: str, batch_id: str, seq: int, stream: BinaryIO,
               address: str | None = None) -> IO[bytes]:
    """The print-ready PDF (cover page, then the document) of an unreachable item."""
    lines = postal_address(address)
    with pb.uow() as uow:
        s = uow.session
        batch = find_batch(s, org_id, batch_id)
        item = s.scalar(select(BatchItem).where(BatchItem.batch_id == batch.id,
                                                BatchItem.seq == seq))
        if item is None:
            raise NotFound("no such item in this batch")
        if item.status != "unreachable":
            raise Conflict(f"this item is {item.status}; only unreachable items are printed")
        org_name = s.get(Organisation, org_id).name  # type: ignore[union-attr]
        cover = Cover(org_name, batch.id, batch.reference, item.seq, item.key, item.external_id,
                      item.created_at, "", lines)
        expected = item.content_mac or ""
    upload: IO[bytes] = SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - closed below
    digest, mac, size = hashlib.sha256(), content_mac(pb), 0
    while piece := stream.read(PIECE):
        size += len(piece)
        if size > pb.settings.max_document_bytes:
            upload.close()
            raise DocumentTooLarge(f"the document is larger than {pb.settings.max_document_bytes}"
                                   " bytes")
        digest.update(piece)
        mac.update(piece)
        upload.write(piece)
    if not hmac.compare_digest(mac.hexdigest(), expected):
        upload.close()
        raise Conflict("this is not the document that was submitted for this item")
    upload.seek(0)
    cover = replace(cover, sha256=digest.hexdigest())
    try:
        return _merge(cover_page(cover), upload)
    finally:
        upload.close()


def _merge(cover: bytes, document: IO[bytes]) -> IO[bytes]:
    from pypdf import PdfReader, PdfWriter

    out: IO[bytes] = SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - the caller closes it
    try:
        writer = PdfWriter()
        writer.append(PdfReader(io.BytesIO(cover)))
        writer.append(PdfReader(document, strict=False))
        writer.write(out)
    except Exception:  # noqa: BLE001 - any parser failure on the sender's file is its fault
        out.close()
        raise InvalidInput("the document could not be read as a PDF (is it encrypted?)") \
            from None
    out.seek(0)
    return out
