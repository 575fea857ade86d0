"""What hostile or odd subjects and sender names become inside the export zip."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from postbox.portability_names import (
    UniqueNames,
    document_stem,
    extension,
    safe_segment,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("../../etc/passwd", "_.._etc_passwd"),
    ("..", "doc"),
    ("...", "doc"),
    (".hidden", "hidden"),
    ("C:\\Windows\\win.ini", "C__Windows_win.ini"),
    ("/absolute", "_absolute"),
    ("a\x00b\x1bc\x7fd", "abcd"),
    ("invoice\u202egpj.exe", "invoicegpj.exe"),  # right-to-left override dropped
    ("zero\u200bwidth", "zerowidth"),
    ("tab\tand\nnew line\u00a0nbsp", "tab and new line nbsp"),
    ("  trailing dots and spaces. . ", "trailing dots and spaces"),
    ('a<b>c:d"e|f?g*h', "a_b_c_d_e_f_g_h"),
    ("CON", "_CON"),
    ("nul.txt", "_nul.txt"),
    ("com1", "_com1"),
    ("Lpt9.pdf", "_Lpt9.pdf"),
    ("CONSOLE", "CONSOLE"),
    ("Überweisung ✓", "Überweisung ✓"),
    ("e\u0301", "\u00e9"),  # NFC
    ("", "doc"),
    (None, "doc"),
    ("\u202e\u200b", "doc"),
])
def test_safe_segment(text, expected) -> None:
    assert safe_segment(text, "doc") == expected


def test_long_names_are_bounded_in_characters_and_bytes() -> None:
    assert len(safe_segment("x" * 500, "d")) == 80
    wide = safe_segment("€" * 200, "d")  # 3 bytes each in UTF-8
    assert len(wide.encode("utf-8")) <= 160 and set(wide) == {"€"}


def test_unique_names_ignore_case_and_fall_back_to_the_tiebreak_then_a_counter() -> None:
    names = UniqueNames()
    assert names.claim("Letter", ".pdf", tiebreak="abc") == "Letter.pdf"
    assert names.claim("LETTER", ".pdf", tiebreak="abc") == "LETTER (abc).pdf"
    assert names.claim("letter", ".pdf", tiebreak="abc") == "letter (abc 2).pdf"
    assert names.claim("letter", ".pdf") == "letter (copy 2).pdf"


def test_document_stem_and_extension() -> None:
    at = datetime(2026, 11, 24, 23, 59, tzinfo=UTC)
    assert document_stem(at, "Your / statement", "3f9a1c2b" + "0" * 24) == \
        "2026-11-24 Your _ statement (3f9a1c2b)"
    assert document_stem(at, None, "ab" * 16) == "2026-11-24 document (abababab)"
    assert extension("application/pdf") == ".pdf"
    assert extension("application/x-msdownload") == ".bin"
