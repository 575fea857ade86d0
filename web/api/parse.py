"""Reading request fields into Python values; anything malformed is a 400 problem, never a 500.

Shapes only (types, lengths, known fields): what a value means is checked by the services.
"""
from __future__ import annotations

import json
from datetime import date
from typing import Any

from flask import request

from web.api.problems import ApiProblem


def json_body() -> dict[str, Any]:
    """The request's JSON object (``Content-Type: application/json``)."""
    if request.mimetype != "application/json":
        raise ApiProblem("unsupported-media-type", "send the body as application/json")
    return json_object(request.get_data(cache=False), "the body")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):  # parsers disagree on which duplicate wins: refuse them
        raise ValueError("duplicate key")
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python accepts them, RFC 8259 not


def json_object(raw: bytes | str, what: str) -> dict[str, Any]:
    try:
        # UTF-8 only (RFC 8259): json.loads would guess UTF-16/32 from bytes and skip a BOM.
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value = json.loads(text, object_pairs_hook=_unique, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise ApiProblem("malformed-request", f"{what} is not valid JSON (UTF-8)") from None
    if not isinstance(value, dict):
        raise ApiProblem("malformed-request", f"{what} must be a JSON object")
    return value


def only(obj: dict[str, Any], allowed: set[str], what: str = "the body") -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ApiProblem("invalid-input", f"{what} has unknown fields: {', '.join(unknown)[:200]}")


def text(obj: dict[str, Any], name: str, *, required: bool = True,
         max_len: int = 1000) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise ApiProblem("invalid-input", f"{name} is required")
        return None
    if not isinstance(value, str):
        raise ApiProblem("invalid-input", f"{name} must be a string")
    if len(value) > max_len:
        raise ApiProblem("invalid-input", f"{name} is longer than {max_len} characters")
    return value


def required_text(obj: dict[str, Any], name: str, max_len: int = 1000) -> str:
    value = text(obj, name, max_len=max_len)
    assert value is not None  # required=True raised otherwise
    return value


def flag(obj: dict[str, Any], name: str, default: bool) -> bool:
    value = obj.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ApiProblem("invalid-input", f"{name} must be true or false")
    return value


def integer(obj: dict[str, Any], name: str, default: int | None, low: int,
            high: int) -> int | None:
    value = obj.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApiProblem("invalid-input", f"{name} must be an integer from {low} to {high}")
    return value


def day(obj: dict[str, Any], name: str) -> date | None:
    value = text(obj, name, required=False, max_len=10)
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise ApiProblem("invalid-input", f"{name} must be a date: YYYY-MM-DD") from None


def strings(obj: dict[str, Any], name: str, max_items: int, max_len: int) -> list[str]:
    value = obj.get(name)
    if not isinstance(value, list) or not 1 <= len(value) <= max_items:
        raise ApiProblem("invalid-input", f"{name} must be a list of 1-{max_items} strings")
    if not all(isinstance(v, str) and len(v) <= max_len for v in value):
        raise ApiProblem("invalid-input", f"{name} must hold strings of at most {max_len} "
                         "characters")
    return value


def query_int(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.lstrip("-").isdigit() or len(raw) > 12:
        raise ApiProblem("invalid-input", f"{name} must be an integer")
    value = int(raw)
    if not low <= value <= high:
        raise ApiProblem("invalid-input", f"{name} must be from {low} to {high}")
    return value


def idempotency_key(required: bool) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None or key == "":
        if required:
            raise ApiProblem("idempotency-key-required",
                             "send an Idempotency-Key header (1-200 printable ASCII characters)")
        return None
    if not (1 <= len(key) <= 200 and all(0x21 <= ord(c) <= 0x7E for c in key)):
        raise ApiProblem("invalid-input", "an Idempotency-Key is 1-200 printable ASCII "
                         "characters")
    return key
