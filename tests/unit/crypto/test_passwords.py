"""Staff password hashes: PHC strings that match the reference Argon2, and that fail closed.

The vectors were computed with argon2-cffi (the reference C implementation), not with the code
under test; when argon2-cffi is installed the interop tests also check both directions live.
"""
from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.kdf import Argon2Params
from crypto.passwords import Ceiling, hash_password, needs_rehash, verify_password

CHEAP = Argon2Params(memory_kib=64, iterations=1, lanes=1)
# (password, salt, params, PHC string from argon2-cffi's low-level hash_secret)
VECTORS = [
    ("correct horse battery staple", b"postbox-vector-1", Argon2Params(256, 2, 2),
     ("$argon2id$v=19$m=256,t=2,p=2$cG9zdGJveC12ZWN0b3ItMQ"
      "$+jay3bjmDJKKz+qz8NlY4mPiFL5KDgSoJMbB0RwLDwk")),
    # NFKC turns the ligature "ﬁ" into "fi": this is the hash of the normalised form.
    ("Passwört-ﬁx", b"postbox-vector-2", CHEAP,
     ("$argon2id$v=19$m=64,t=1,p=1$cG9zdGJveC12ZWN0b3ItMg"
      "$muS3tjCzHTv0wMsKXvELZ9NJAywJqcfo/awiirWBDAw")),
]


@pytest.mark.parametrize(("password", "salt", "params", "expected"), VECTORS)
def test_known_answers(password: str, salt: bytes, params: Argon2Params, expected: str) -> None:
    assert hash_password(password, params, salt=salt) == expected
    assert verify_password(password, expected)


def test_round_trip_and_fresh_salts() -> None:
    first, second = hash_password("a long passphrase", CHEAP), hash_password("a long passphrase",
                                                                               CHEAP)
    assert first != second  # random salt per hash
    assert first.startswith("$argon2id$v=19$m=64,t=1,p=1$")
    assert verify_password("a long passphrase", first) and verify_password("a long passphrase",
                                                                           second)
    assert not verify_password("a long passphrasE", first)
    assert not verify_password("", first)


def test_unicode_forms_are_one_password() -> None:
    encoded = hash_password("caf\u00e9-Stra\u00dfe", CHEAP)
    assert verify_password("cafe\u0301-Stra\u00dfe", encoded)  # decomposed é
    assert not verify_password("cafe-Strasse", encoded)


def test_every_flipped_character_fails() -> None:
    encoded = hash_password("open sesame, please", CHEAP)
    for i, original in enumerate(encoded):
        for replacement in sorted({"A", "b", "9", "$", "+", "/"} - {original}):
            tampered = encoded[:i] + replacement + encoded[i + 1:]
            assert not verify_password("open sesame, please", tampered), (i, tampered)


@pytest.mark.parametrize("cut", [0, 1, 10, 30, 45, -1, -5, -43, -44])
def test_truncated_strings_fail(cut: int) -> None:
    encoded = hash_password("open sesame, please", CHEAP)
    assert not verify_password("open sesame, please", encoded[:cut])


@pytest.mark.parametrize("mutate", [
    lambda e: e.replace("argon2id", "argon2i"),
    lambda e: e.replace("argon2id", "argon2d"),
    lambda e: e.replace("v=19", "v=16"),
    lambda e: e.replace("m=64", "m=65"),
    lambda e: e.replace("t=1", "t=2"),
    lambda e: e.replace(",p=1", ",p=2"),
    lambda e: e + "$",
    lambda e: e + "A",
    lambda e: " " + e,
    lambda e: e + "\n",
    lambda e: e.replace("$", "$$", 1),
    lambda e: e.replace("m=64,t=1,p=1", "t=1,m=64,p=1"),
    lambda e: e.replace("v=19$", ""),
    lambda e: e.upper(),
])
def test_altered_strings_fail(mutate) -> None:
    encoded = hash_password("open sesame, please", CHEAP)
    assert not verify_password("open sesame, please", mutate(encoded))


@pytest.mark.parametrize("garbage", ["", "$", "password", "$argon2id$", "$2b$12$abcdefghijk",
                                     "$argon2id$v=19$m=64,t=1,p=1$$", "\x00" * 80,
                                     "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$" + "A" * 10])
def test_garbage_fails_closed(garbage: str) -> None:
    assert not verify_password("anything", garbage)


def test_non_strings_fail_closed() -> None:
    assert not verify_password("x", None)  # type: ignore[arg-type]
    assert not verify_password("x", b"$argon2id$")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_password(b"x", hash_password("x", CHEAP))  # type: ignore[arg-type]


@pytest.mark.parametrize("params", ["m=2000000,t=1,p=1", "m=64,t=100,p=1", "m=4096,t=1,p=64",
                                    "m=4,t=1,p=1", "m=64,t=0,p=1", "m=64,t=1,p=0"])
def test_costs_outside_the_ceiling_are_refused_before_any_work(params: str) -> None:
    encoded = hash_password("pw", CHEAP).replace("m=64,t=1,p=1", params)
    started = time.perf_counter()
    assert not verify_password("pw", encoded)
    assert time.perf_counter() - started < 0.5  # no gigabyte-sized Argon2 run happened


def test_ceiling_is_configurable() -> None:
    encoded = hash_password("pw", Argon2Params(256, 2, 2))
    assert verify_password("pw", encoded)
    assert not verify_password("pw", encoded, Ceiling(memory_kib=128))
    assert not verify_password("pw", encoded, Ceiling(iterations=1))


def test_needs_rehash_follows_the_costs() -> None:
    encoded = hash_password("pw", CHEAP)
    assert not needs_rehash(encoded, CHEAP)
    assert needs_rehash(encoded, Argon2Params(128, 1, 1))
    assert needs_rehash(encoded, Argon2Params(64, 2, 1))
    assert needs_rehash("not a hash", CHEAP)


def test_short_salt_refused() -> None:
    with pytest.raises(ValueError):
        hash_password("pw", CHEAP, salt=b"short")


@settings(max_examples=25, deadline=None)
@given(st.text(max_size=64))
def test_any_text_round_trips(password: str) -> None:
    encoded = hash_password(password, CHEAP)
    assert verify_password(password, encoded)
    assert not verify_password(password + "x", encoded)


def test_interop_with_the_reference_implementation() -> None:
    argon2 = pytest.importorskip("argon2", reason="argon2-cffi not installed: vectors above "
                                                  "still pin the format")
    ours = hash_password("interop check", Argon2Params(256, 2, 2))
    assert argon2.PasswordHasher().verify(ours, "interop check")
    theirs = argon2.PasswordHasher(time_cost=2, memory_cost=256, parallelism=2).hash(
        "interop check")
    assert verify_password("interop check", theirs)
    assert not verify_password("interop checK", theirs)
