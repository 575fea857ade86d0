"""Blob key rules: server-made keys pass, anything that could alias or escape a path fails."""
from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.base import MAX_KEY_LENGTH, is_valid_key, validate_key, validate_prefix
from storage.errors import InvalidKey, StorageError

ALPHABET = string.ascii_lowercase + string.digits + "._-"
SEGMENT = st.text(ALPHABET, min_size=1, max_size=20).filter(lambda s: s not in (".", ".."))


@pytest.mark.parametrize("key", [
    "docs/ab/cd/0123456789abcdef",
    "a",
    "a.b_c-d",
    "..a/b..",          # dots inside a segment are fine; only '.' and '..' segments are not
    ".hidden/x",
    "x" * MAX_KEY_LENGTH,
])
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key
    assert is_valid_key(key)


@pytest.mark.parametrize(("key", "reason"), [
    ("", "empty"),
    ("../x", "'..' segment"),
    ("docs/../x", "'..' segment"),
    ("a/./b", "'.' segment"),
    (".", "'.' segment"),
    ("/abs", "leading, trailing or doubled '/'"),
    ("a//b", "leading, trailing or doubled '/'"),
    ("a/", "leading, trailing or doubled '/'"),
    ("a\x00b", "allowed characters"),
    ("Docs", "allowed characters"),
    ("dökument", "allowed characters"),
    ("a b", "allowed characters"),
    ("a\\b", "allowed characters"),
    ("a\nb", "allowed characters"),
    ("x" * (MAX_KEY_LENGTH + 1), "longer than 512"),
])
def test_invalid_keys(key: str, reason: str) -> None:
    with pytest.raises(InvalidKey) as caught:
        validate_key(key)
    assert reason in caught.value.reason
    assert isinstance(caught.value, StorageError)
    assert not is_valid_key(key)


def test_non_string_key() -> None:
    with pytest.raises(InvalidKey):
        validate_key(b"docs/a")  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["", "docs/", "docs/a", "docs/ab/", "docs/.", "docs/.."])
def test_valid_prefixes(prefix: str) -> None:
    # A prefix's last segment may still grow: "docs/.." can start "docs/..x".
    assert validate_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["/", "/docs", "docs//", "../", "docs/../", "A", "a\x00"])
def test_invalid_prefixes(prefix: str) -> None:
    with pytest.raises(InvalidKey):
        validate_prefix(prefix)


@given(st.lists(SEGMENT, min_size=1, max_size=8))
def test_keys_built_from_allowed_segments_are_valid(segments: list[str]) -> None:
    key = "/".join(segments)
    if len(key) <= MAX_KEY_LENGTH:
        assert validate_key(key) == key
        assert validate_prefix(key) == key


@given(st.text(max_size=40))
def test_any_text_is_accepted_or_refused_with_invalid_key(text: str) -> None:
    try:
        validate_key(text)
    except InvalidKey:
        return
    segments = text.split("/")
    assert set(text) <= set(ALPHABET + "/")
    assert all(s not in ("", ".", "..") for s in segments)
