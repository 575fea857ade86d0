"""Batch manifests (DESIGN.md): CSV or JSON Lines, one document a row, checked before sending.

Columns: ``recipient`` (external id), ``file`` (path relative to the manifest), ``subject``;
optional ``case``, ``automated`` (true/false), ``due_date`` (YYYY-MM-DD), ``key`` (idempotency
key) and ``postal_address`` (for the paper fallback; lines split by newlines or ``|``).

Hostile input gets a clear error with its line number, never a traceback: bytes that are not
UTF-8 (a UTF-8 byte order mark is tolerated, UTF-16/32 ones are refused), missing or unknown
columns, absolute paths, ``..``, symlinks or paths that leave the manifest's folder, missing,
empty or non-PDF files, duplicate rows and duplicate keys. Every row is checked before anything
is sent, and all errors are reported at once.

Keys: the batch key is the SHA-256 of the manifest's bytes (or ``--batch-key``), and a row's
key is derived from the batch key and the row's content, so running the same manifest again
resumes its batch and sends nothing twice. A row's ``key`` column overrides the derived key.
Rows are read twice (check, then send) rather than held, so memory stays small for 100,000.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath, PureWindowsPath

from postbox import validation
from postbox.errors import InvalidInput

REQUIRED = ("recipient", "file", "subject")
OPTIONAL = ("case", "automated", "due_date", "key", "postal_address")
COLUMNS = frozenset(REQUIRED + OPTIONAL)
TRUE, FALSE = {"true", "yes", "1"}, {"false", "no", "0", ""}
FOREIGN_BOMS = {codecs.BOM_UTF32_LE: "UTF-32", codecs.BOM_UTF32_BE: "UTF-32",
                codecs.BOM_UTF16_LE: "UTF-16", codecs.BOM_UTF16_BE: "UTF-16"}
DEFAULT_MAX_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    recipient: str
    path: Path
    name: str  # the file name as written (shown to the recipient: its last segment)
    size: int
    subject: str
    case: str | None
    automated: bool
    due_date: str | None
    key: str
    postal_address: str | None

    def metadata(self) -> dict[str, object]:
        meta: dict[str, object] = {"key": self.key, "recipient": self.recipient,
                                   "subject": self.subject, "automated": self.automated,
                                   "filename": PurePosixPath(self.name).name,
                                   "client_ref": str(self.line)}
        if self.case:
            meta["case"] = self.case
        if self.due_date:
            meta["due_date"] = self.due_date
        return meta


@dataclass(frozen=True, slots=True)
class RowError:
    line: int  # 0: the manifest as a whole
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass
class Summary:
    rows: int
    bytes: int
    recipients: dict[str, list[int]]  # external id -> lines, for the reachability check
    errors: list[RowError]


class ManifestError(InvalidInput):
    """The manifest cannot be read at all (its whole, not one row)."""


class Manifest:
    def __init__(self, path: Path, batch_key: str | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.folder = path.parent.resolve()
        self.format = _format(path)
        self.max_bytes = max_bytes
        self.batch_key = batch_key or _file_digest(path)

    def rows(self) -> Iterator[Row | RowError]:
        """Every row, checked on its own (duplicates are :meth:`check`'s business)."""
        records = _csv_records(self.path) if self.format == "csv" else _jsonl_records(self.path)
        for line, record in records:
            if isinstance(record, RowError):
                yield record
                continue
            try:
                yield self._row(line, record)
            except (InvalidInput, ValueError) as exc:
                yield RowError(line, str(exc))

    def check(self) -> Summary:
        summary = Summary(0, 0, {}, [])
        seen: dict[str, int] = {}
        for row in self.rows():
            if isinstance(row, RowError):
                summary.errors.append(row)
                continue
            first = seen.setdefault(row.key, row.line)
            if first != row.line:
                summary.errors.append(RowError(row.line, f"repeats line {first} (same key "
                                               f"{row.key!r}: same recipient, file, subject, "
                                               "case, date and flag, or the same key column)"))
                continue
            summary.rows += 1
            summary.bytes += row.size
            summary.recipients.setdefault(row.recipient, []).append(row.line)
        if summary.rows == 0 and not summary.errors:
            summary.errors.append(RowError(0, f"{self.path.name}: the manifest has no rows"))
        return summary

    def _row(self, line: int, record: dict[str, str | bool | None]) -> Row:
        def text(name: str) -> str | None:
            value = record.get(name)
            if value is None or isinstance(value, str):
                return value.strip() if value is not None and value.strip() else None
            raise ValueError(f"{name} must be text")

        recipient = validation.external_id(text("recipient") or "")
        subject = validation.display_text(text("subject") or "", "subject", 200)
        case = text("case")
        case = validation.case_reference(case) if case else None
        automated = _flag(record.get("automated"))
        due = text("due_date")
        if due and not _is_date(due):
            raise ValueError(f"due_date {due[:20]!r} is not a date (YYYY-MM-DD)")
        name = text("file") or ""
        path, size = self._file(name)
        address = text("postal_address")
        if address:
            address = "\n".join(p.strip() for p in address.replace("|", "\n").splitlines())
        key = text("key") or self._derive(recipient, name, subject, case, automated, due)
        if not (len(key) <= 200 and all(0x21 <= ord(c) <= 0x7E for c in key)):
            raise ValueError("key must be 1-200 printable ASCII characters")
        return Row(line, recipient, path, name, size, subject, case, automated, due, key, address)

    def _file(self, name: str) -> tuple[Path, int]:
        if not name:
            raise ValueError("file is empty: give a path relative to the manifest")
        if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() \
                or name.startswith(("/", "\\")) or PureWindowsPath(name).drive:
            raise ValueError(f"file {name!r}: absolute paths are not allowed; give a path "
                             "relative to the manifest")
        if ".." in PurePosixPath(name.replace("\\", "/")).parts:
            raise ValueError(f"file {name!r}: '..' is not allowed")
        path = self.folder / name
        try:
            real = path.resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError):
            raise ValueError(f"file {name!r} does not exist") from None
        except (OSError, RuntimeError) as exc:  # symlink loops, permissions
            raise ValueError(f"file {name!r} cannot be read: {exc.__class__.__name__}") from None
        if not real.is_relative_to(self.folder):
            raise ValueError(f"file {name!r} leads outside the manifest's folder (a symlink?)")
        if not real.is_file():
            raise ValueError(f"file {name!r} is not a regular file")
        size = real.stat().st_size
        if size == 0:
            raise ValueError(f"file {name!r} is empty (0 bytes)")
        if size > self.max_bytes:
            raise ValueError(f"file {name!r} is larger than {self.max_bytes} bytes")
        try:
            with real.open("rb") as fh:
                head = fh.read(5)
        except OSError as exc:
            raise ValueError(f"file {name!r} cannot be read: {exc.strerror}") from None
        if head != b"%PDF-":
            raise ValueError(f"file {name!r} is not a PDF")
        return real, size

    def _derive(self, *fields: object) -> str:
        body = json.dumps([self.batch_key, *fields], ensure_ascii=False)
        return "m-" + hashlib.sha256(body.encode()).hexdigest()[:40]


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise ManifestError(f"{path.name}: a manifest is .csv or .jsonl (JSON Lines)")


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            while piece := fh.read(1 << 20):
                digest.update(piece)
    except OSError as exc:
        raise ManifestError(f"{path}: {exc.strerror}") from None
    return digest.hexdigest()


def _lines(path: Path) -> Iterator[tuple[int, str | RowError]]:
    """Decoded lines with their numbers; a line that is not UTF-8 becomes an error."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            if number == 1:
                for bom, name in FOREIGN_BOMS.items():
                    if raw.startswith(bom):
                        raise ManifestError(f"{path.name} is {name} (byte order mark); save "
                                            "it as UTF-8")
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield number, RowError(number, f"not UTF-8 (byte 0x{raw[exc.start]:02x} at "
                                               f"column {exc.start + 1}); save the manifest "
                                               "as UTF-8")


def _csv_records(path: Path) -> Iterator[tuple[int, dict[str, str | bool | None] | RowError]]:
    errors: list[RowError] = []
    numbers: list[int] = []

    def text_lines() -> Iterator[str]:
        for number, line in _lines(path):
            numbers.append(number)
            if isinstance(line, RowError):
                errors.append(line)
                yield "\n"
            else:
                yield line

    reader = csv.reader(text_lines(), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise ManifestError(f"{path.name} is empty")
        columns = [h.strip().lower() for h in header]
        _check_columns(path, columns)
        end = reader.line_num
        for cells in reader:
            start, end = end + 1, reader.line_num
            while errors:
                yield errors[0].line, errors.pop(0)
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(columns):
                yield start, RowError(start, f"{len(cells)} cells, but the header has "
                                             f"{len(columns)}")
                continue
            yield start, dict(zip(columns, cells))
    except csv.Error as exc:
        line = numbers[-1] if numbers else 0
        yield line, RowError(line, f"CSV syntax: {exc} (no further rows were read)")
    while errors:
        yield errors[0].line, errors.pop(0)


def _check_columns(path: Path, columns: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    unknown = [c for c in columns if c not in COLUMNS]
    doubled = sorted({c for c in columns if columns.count(c) > 1})
    problems = []
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown columns: {', '.join(repr(c) for c in unknown)}")
    if doubled:
        problems.append(f"repeated columns: {', '.join(doubled)}")
    if problems:
        raise ManifestError(f"{path.name} line 1: {'; '.join(problems)} (columns: "
                            f"{', '.join(REQUIRED)}, optional {', '.join(OPTIONAL)})")


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, str | bool | None] | RowError]]:
    for number, line in _lines(path):
        if isinstance(line, RowError):
            yield number, line
            continue
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            yield number, RowError(number, "not a JSON object (JSON Lines: one object a line)")
            continue
        if not isinstance(record, dict):
            yield number, RowError(number, "not a JSON object (JSON Lines: one object a line)")
            continue
        missing = [c for c in REQUIRED if c not in record]
        unknown = [c for c in record if c not in COLUMNS]
        if missing or unknown:
            parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                    ([f"unknown {', '.join(repr(c)[:40] for c in unknown)}"] if unknown else [])
            yield number, RowError(number, "; ".join(parts))
            continue
        yield number, record


def _is_date(value: str) -> bool:
    try:
        return len(value) == 10 and bool(date.fromisoformat(value))
    except ValueError:
        return False


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
        return value.strip().lower() in TRUE
    raise ValueError("automated must be true or false")
