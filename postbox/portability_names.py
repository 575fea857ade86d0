"""Names inside a postbox export: what a hostile or odd subject or sender name becomes.

Subjects and sender names are free text chosen by organisations. A zip member name built from
them must not escape the archive (no ``/``, ``\\``, ``..`` segments, drive letters), must not
hide or spoof (no control, bidi-override or other invisible characters, no leading dots),
must extract on every common file system (no ``<>:"|?*``, no trailing dots or spaces, no
reserved Windows device names, bounded length) and must be unique, ignoring case, so that
nothing is overwritten on a case-insensitive disk. The exact text always stays in index.json.
"""
from __future__ import annotations

import unicodedata
from datetime import datetime

MAX_SEGMENT_CHARS = 80
MAX_SEGMENT_BYTES = 160  # UTF-8; well under the 255-byte file name limit of common disks
_FORBIDDEN = frozenset('<>:"/\\|?*')
_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
                       *(f"COM{n}" for n in range(10)), *(f"LPT{n}" for n in range(10))})
EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}


def safe_segment(text: str | None, fallback: str) -> str:
    """One path segment made from free text; ``fallback`` when nothing printable is left."""
    out = []
    for ch in unicodedata.normalize("NFC", text or ""):
        category = unicodedata.category(ch)
        if ch.isspace() or category.startswith("Z"):  # tabs, line breaks, every kind of space
            out.append(" ")
        elif category.startswith("C"):  # control, format (bidi overrides), surrogate, private
            continue
        elif ch in _FORBIDDEN:
            out.append("_")
        else:
            out.append(ch)
    name = " ".join("".join(out).split())[:MAX_SEGMENT_CHARS]
    while len(name.encode("utf-8")) > MAX_SEGMENT_BYTES:
        name = name[:-1]
    name = name.strip(" .")  # no hidden files, no "..", no names Windows silently trims
    if not name:
        return fallback
    if name.split(".", 1)[0].strip().upper() in _RESERVED:
        name = "_" + name
    return name


class UniqueNames:
    """Hands out member names that differ from every earlier one, ignoring case."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def claim(self, stem: str, suffix: str = "", tiebreak: str = "") -> str:
        """``stem + suffix``, else with the tiebreak, else with a counter."""
        candidates = [f"{stem}{suffix}"]
        if tiebreak:
            candidates.append(f"{stem} ({tiebreak}){suffix}")
        for name in candidates:
            if self._take(name):
                return name
        n = 2
        while not self._take(name := f"{stem} ({tiebreak or 'copy'} {n}){suffix}"):
            n += 1
        return name

    def _take(self, name: str) -> bool:
        key = name.casefold()
        if key in self._taken:
            return False
        self._taken.add(key)
        return True


def document_stem(received_at: datetime, subject: str | None, document_id: str) -> str:
    """``2026-11-24 Subject (3f9a1c2b)``: sorts by date; the id fragment tells twins apart."""
    return f"{received_at:%Y-%m-%d} {safe_segment(subject, 'document')} ({document_id[:8]})"


def extension(content_type: str) -> str:
    """From the type sniffed at delivery, never from the sender's file name."""
    return EXTENSIONS.get(content_type, ".bin")
