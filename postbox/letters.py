"""Printable PDFs: the invitation letter with the activation code, and sample documents."""
from __future__ import annotations

import io
from datetime import datetime

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

_STYLES = getSampleStyleSheet()
_CODE = ParagraphStyle("code", parent=_STYLES["Title"], fontName="Courier-Bold", fontSize=22,
                       leading=28, textColor=colors.HexColor("#12355b"))
_BODY = ParagraphStyle("body", parent=_STYLES["BodyText"], fontSize=11, leading=15)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _render(story: list, title: str) -> bytes:  # type: ignore[type-arg]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, title=title, author="Postbox",
                            leftMargin=25 * mm, rightMargin=25 * mm, topMargin=25 * mm)
    doc.build(story)
    return buf.getvalue()


def invitation_letter(org_name: str, email: str, external_id: str, code: str,
                      portal_url: str, today: datetime) -> bytes:
    """The paper letter that carries the activation code; the only channel the code travels."""
    steps = [
        f"Open <b>{_escape(portal_url.rstrip('/'))}/activate</b> in your browser. "
        "Type the address yourself; we never send links.",
        "Enter the activation code printed above.",
        "Choose a PIN of at least 6 digits (not 123456 or similar).",
        "Scan the QR code with an authenticator app (for example FreeOTP or Google "
        "Authenticator) and enter the 6-digit code it shows.",
        "Write down the recovery code you are shown, and keep it with this letter.",
    ]
    rows = [[f"{i}.", Paragraph(s, _BODY)] for i, s in enumerate(steps, 1)]
    table = Table(rows, colWidths=[10 * mm, 145 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story = [
        Paragraph(_escape(org_name), _STYLES["Heading2"]),
        Paragraph(today.strftime("%d %B %Y"), _BODY),
        Spacer(1, 8 * mm),
        Paragraph("Your secure digital postbox", _STYLES["Title"]),
        Paragraph(f"{_escape(org_name)} will send you letters through Postbox, a secure digital "
                  f"postbox. Documents are encrypted so that only you can read them. This "
                  f"letter is for <b>{_escape(email)}</b> (customer number "
                  f"{_escape(external_id)}).", _BODY),
        Spacer(1, 6 * mm),
        Paragraph("Your activation code", _STYLES["Heading3"]),
        Paragraph(_escape(code), _CODE),
        Spacer(1, 6 * mm),
        Paragraph("How to activate", _STYLES["Heading3"]),
        table,
        Spacer(1, 8 * mm),
        Paragraph("<b>Keep this code private.</b> We will never ask for your PIN or codes by "
                  "e-mail or phone. Our e-mails only tell you that something new has arrived; "
                  "they never contain a link or the content.", _BODY),
    ]
    return _render(story, "Postbox activation letter")


def sample_document(title: str, sender: str, paragraphs: list[str]) -> bytes:
    """A plain, realistic PDF for demo data."""
    story = [Paragraph(_escape(sender), _STYLES["Heading2"]), Spacer(1, 6 * mm),
             Paragraph(_escape(title), _STYLES["Title"])]
    story += [Paragraph(_escape(p), _BODY) for p in paragraphs]
    return _render(story, title)
