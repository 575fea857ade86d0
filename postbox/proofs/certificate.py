"""The PDF certificate: a proof bundle rendered for people (a court clerk, a judge, a customer).

It says who the parties are, what happened when (UTC), which document (by hashes) and which
keys signed, which log checkpoint and witnesses vouch for it, whether the bundle passed its
checks when the certificate was made, and how anyone can check it again. It is rendered from
the bundle alone (no database), reading the evidence as a stream and listing a bounded number
of events, so a bundle of 100,000 evidences gives a certificate of a few pages plus totals.
"""
from __future__ import annotations

import json
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from postbox.proofs import format as fmt
from postbox.proofs.verify import Report

MAX_EVENTS = 200
MAX_DOCUMENTS = 40
EVENTS = {
    "submission_accepted": "Submitted by the sender",
    "consigned": "Placed in the recipient's postbox",
    "notified": "Recipient notified (notice without content)",
    "notice_failed": "Notice could not be delivered",
    "retrieved": "Opened and fully received by the recipient",
    "held": "Held for a person at the sender",
    "released": "Released by the sender",
    "cancelled": "Cancelled by the sender",
    "superseded": "Replaced by a newer document",
    "replied": "The recipient replied",
}
_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu",)


def _fonts() -> tuple[str, str, str]:
    """A Unicode font (DejaVu if installed, else Vera from reportlab), bold and mono."""
    if "PBX-Regular" in pdfmetrics.getRegisteredFontNames():
        return "PBX-Regular", "PBX-Bold", "PBX-Mono"
    for base in _FONT_DIRS:
        faces = (f"{base}/DejaVuSans.ttf", f"{base}/DejaVuSans-Bold.ttf",
                 f"{base}/DejaVuSansMono.ttf")
        if all(Path(f).exists() for f in faces):
            break
    else:
        faces = ("Vera.ttf", "VeraBd.ttf", "Vera.ttf")
    for name, face in zip(("PBX-Regular", "PBX-Bold", "PBX-Mono"), faces):
        pdfmetrics.registerFont(TTFont(name, face))
    return "PBX-Regular", "PBX-Bold", "PBX-Mono"


@dataclass
class _Digest:
    """What the certificate shows, gathered in one pass over the bundle."""

    manifest: dict[str, Any]
    parties: dict[str, Any]
    checkpoint: str
    trust: dict[str, Any]
    total: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    events: list[dict[str, Any]] = field(default_factory=list)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    key_ids: set[str] = field(default_factory=set)
    first: str | None = None
    last: str | None = None


def _read(bundle: Path) -> _Digest:
    with zipfile.ZipFile(bundle) as zf:
        def load(name: str) -> Any:
            try:
                return json.loads(zf.read(name))
            except (KeyError, ValueError):
                return {}
        try:
            checkpoint = zf.read(fmt.CHECKPOINT).decode("utf-8", "replace")
        except KeyError:
            checkpoint = ""
        digest = _Digest(load(fmt.MANIFEST), load(fmt.PARTIES), checkpoint, load(fmt.TRUST))
        with zf.open(fmt.EVIDENCES) as fh:
            for raw in fh:
                try:
                    line = json.loads(raw)
                    body = json.loads(line["body"])
                except (ValueError, KeyError, TypeError):
                    continue
                _add(digest, line, body)
    return digest


def _add(d: _Digest, line: dict[str, Any], body: dict[str, Any]) -> None:
    d.total += 1
    event = str(body.get("event"))
    d.counts[event] += 1
    d.key_ids.add(str(body.get("key_id")))
    when = str(body.get("time"))
    d.first = min(d.first or when, when)
    d.last = max(d.last or when, when)
    doc_id = body.get("document")
    if doc_id and (doc_id in d.documents or len(d.documents) < MAX_DOCUMENTS):
        doc = d.documents.setdefault(doc_id, {"recipient": body.get("recipient"),
                                              "org": body.get("sender_org"), "hashes": set(),
                                              "commitments": set()})
        if body.get("ciphertext_sha256"):
            doc["hashes"].add(body["ciphertext_sha256"])
        if body.get("commitment"):
            doc["commitments"].add(body["commitment"])
    if len(d.events) < MAX_EVENTS:
        d.events.append({"time": when, "event": event, "etsi": body.get("etsi"),
                         "document": doc_id, "leaf": line.get("leaf_index"),
                         "key_id": body.get("key_id"), "auth": body.get("auth"),
                         "countersigned": line.get("countersignature") is not None})


class _Styles:
    def __init__(self) -> None:
        regular, bold, mono = _fonts()
        base = getSampleStyleSheet()
        self.title = ParagraphStyle("t", parent=base["Title"], fontName=bold, fontSize=18)
        self.h2 = ParagraphStyle("h2", parent=base["Heading2"], fontName=bold, fontSize=12.5,
                                 spaceBefore=8, textColor=colors.HexColor("#12355b"))
        self.body = ParagraphStyle("b", parent=base["BodyText"], fontName=regular,
                                   fontSize=9.5, leading=12.5)
        self.small = ParagraphStyle("s", parent=self.body, fontSize=8, leading=10)
        self.mono = ParagraphStyle("m", parent=self.body, fontName=mono, fontSize=6.8,
                                   leading=8.5)
        self.ok = ParagraphStyle("ok", parent=self.body, fontName=bold,
                                 textColor=colors.HexColor("#1b5e20"))
        self.bad = ParagraphStyle("bad", parent=self.body, fontName=bold,
                                  textColor=colors.HexColor("#b71c1c"))
        self.bold = bold


def _p(text: Any, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text)), style)


def _table(rows: list[list[Any]], widths: list[float], st: _Styles, header: bool = True
           ) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b0b8c4")),
             ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3)]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8edf3")))
    table.setStyle(TableStyle(style))
    return table


def _parties(d: _Digest, st: _Styles) -> list[Any]:
    orgs = {o.get("id"): o for o in d.parties.get("organisations", [])}
    rows: list[list[Any]] = [[_p("Role", st.small), _p("Name and identifiers", st.small)]]
    for org in orgs.values():
        rows.append([_p("Sender", st.body),
                     _p(f"{org.get('name')} (account {org.get('slug')}, id {org.get('id')})",
                        st.body)])
    for rec in d.parties.get("recipients", []):
        names = ", ".join(f"{ext} at {orgs.get(o, {}).get('name', o)}"
                          for o, ext in sorted(rec.get("external_ids", {}).items()))
        key = rec.get("countersigning_key_id")
        rows.append([_p("Recipient", st.body),
                     _p(f"{names or 'no external id'}; pseudonymous id {rec.get('id')}"
                        + (f"; own signing key {key}" if key else ""), st.body)])
    rows.append([_p("Service", st.body),
                 _p(f"{d.manifest.get('service', '')}, evidence log {d.manifest.get('origin')}",
                    st.body)])
    return [_p("Parties", st.h2), _table(rows, [28 * mm, 142 * mm], st)]


def _timeline(d: _Digest, st: _Styles) -> list[Any]:
    rows: list[list[Any]] = [[_p(h, st.small) for h in
                              ("Time (UTC)", "Event", "Document", "Log leaf", "Signed by")]]
    for ev in d.events:
        what = EVENTS.get(ev["event"], ev["event"])
        extra = f" [{ev['etsi']}]"
        if ev["event"] == "retrieved":
            auth = ev.get("auth") or {}
            methods = "+".join(auth.get("methods", [])) if isinstance(auth, dict) else ""
            extra += f"; logged in with {methods or 'PIN and code'}" + (
                "; countersigned by the recipient" if ev["countersigned"] else "")
        rows.append([_p(str(ev["time"]).replace("T", " ").replace("Z", ""), st.small),
                     _p(what + extra, st.small), _p(str(ev["document"])[:12], st.mono),
                     _p(ev["leaf"], st.small), _p(f"service key {ev['key_id']}", st.small)])
    story: list[Any] = [_p("Timeline of events", st.h2),
                        _table(rows, [30 * mm, 70 * mm, 22 * mm, 14 * mm, 34 * mm], st)]
    if d.total > len(d.events):
        story.append(_p(f"The first {len(d.events)} of {d.total} events are listed. "
                        "All are in the bundle's evidences.jsonl.", st.small))
    counts = ", ".join(f"{n} {EVENTS.get(k, k).lower()}" for k, n in sorted(d.counts.items()))
    story.append(_p(f"In total: {d.total} evidence records ({counts}), from {d.first} to "
                    f"{d.last}.", st.body))
    return story


def _documents(d: _Digest, st: _Styles) -> list[Any]:
    story: list[Any] = [_p("Documents (identified by hashes; the bundle holds no content)",
                           st.h2)]
    for doc_id, doc in d.documents.items():
        lines = [f"Document {doc_id}"]
        lines += [f"sealed file SHA-256: {h}" for h in sorted(doc["hashes"])]
        lines += [f"content commitment: {c}" for c in sorted(doc["commitments"])]
        story.append(_p(lines[0], st.body))
        story += [_p(line, st.mono) for line in lines[1:]]
    if len(d.documents) >= MAX_DOCUMENTS:
        story.append(_p(f"Only the first {MAX_DOCUMENTS} documents are listed.", st.small))
    return story


def _log(d: _Digest, st: _Styles) -> list[Any]:
    head, _, sigs = d.checkpoint.partition("\n\n")
    story: list[Any] = [_p("Log checkpoint and witnesses", st.h2),
                        _p("Every record above is a leaf of the service's append-only evidence "
                           "log (a Merkle tree, RFC 9162). This checkpoint fixes the whole log; "
                           "witnesses who check that the log never rewrites its history "
                           "countersigned it.", st.body)]
    story += [_p(line, st.mono) for line in head.split("\n") if line]
    story += [_p(line, st.mono) for line in sigs.split("\n") if line]
    keys = [[_p(h, st.small) for h in ("Service evidence key", "Valid from", "Valid until")]]
    for key in d.trust.get("evidence_keys", []):
        keys.append([_p(key.get("key_id"), st.mono), _p(key.get("valid_from"), st.small),
                     _p(key.get("valid_until") or "still in use", st.small)])
    story += [Spacer(1, 3 * mm), _table(keys, [50 * mm, 60 * mm, 60 * mm], st)]
    return story


def _result(report: Report | None, st: _Styles) -> list[Any]:
    if report is None:
        return [_p("This certificate was rendered without checking the bundle; run the "
                   "verification below.", st.body)]
    head = (_p(f"When this certificate was made, all {len(report.results)} checks of the "
               "bundle passed.", st.ok) if report.ok else
            _p(f"WARNING: the bundle FAILED these checks: {', '.join(report.failed())}.",
               st.bad))
    return [head] + [_p(r.line(), st.small) for r in report.results]


def _how(st: _Styles) -> list[Any]:
    steps = [
        "Install Postbox (or any tool that follows VERIFY.md in the bundle) on a computer of "
        "your choice. No connection to the service is needed.",
        "Obtain the service's trust file independently, e.g. from its web site at "
        "/api/v1/log/trust or from your records, and save it as trust.json.",
        "Run: postbox proofs verify bundle.zip --trust trust.json",
        "It prints one line per check and ends with OK only if every check passed. With the "
        "document itself and the salt the recipient can show, add --document FILE --salt "
        "SALT to prove that this exact content was delivered.",
        "By hand: VERIFY.md inside the bundle explains each check with standard tools "
        "(SHA-256, Ed25519, RFC 9162 Merkle proofs, C2SP signed notes).",
    ]
    return [_p("How to verify", st.h2)] + [_p(f"{i}. {s}", st.body)
                                           for i, s in enumerate(steps, 1)]


def render_certificate(bundle: Path, out: IO[bytes], *, report: Report | None = None,
                       issued: datetime | None = None) -> None:
    """Write the PDF certificate for ``bundle`` to ``out``."""
    d = _read(bundle)
    st = _Styles()
    created = d.manifest.get("created", "")
    selection = d.manifest.get("selection", {})
    what = {"document": "one document", "batch": "a batch of documents",
            "recipient": "all documents of one recipient",
            "period": "the documents of a period"}.get(selection.get("kind"), "evidence")
    story: list[Any] = [
        _p("Certificate of delivery evidence", st.title),
        _p(f"Bundle issued {created} (UTC) for {what}; "
           f"{d.total} signed evidence records. "
           + (f"Certificate made {fmt.stamp(issued)}." if issued else ""), st.body),
        Spacer(1, 2 * mm),
        _p("Result of the checks", st.h2),
        *_result(report, st),
        *_parties(d, st),
        *_timeline(d, st),
        *_documents(d, st),
        *_log(d, st),
        *_how(st),
        Spacer(1, 4 * mm),
        _p("Files of the bundle and their SHA-256:", st.small),
        *[_p(f"{name}  {info.get('sha256')}", st.mono)
          for name, info in sorted(d.manifest.get("files", {}).items())
          if isinstance(info, dict)],
    ]

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(st.bold, 7)
        canvas.drawString(20 * mm, 10 * mm, f"Postbox delivery evidence - page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(out, pagesize=A4, title="Certificate of delivery evidence",
                            author="Postbox", leftMargin=20 * mm, rightMargin=20 * mm,
                            topMargin=18 * mm, bottomMargin=18 * mm)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
