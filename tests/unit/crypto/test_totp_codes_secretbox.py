"""TOTP single use and window; human codes; sealed small secrets."""
from __future__ import annotations

import pytest

from crypto.codes import new_activation_code, new_recovery_code, normalise_code
from crypto.errors import OpenError
from crypto.secretbox import open_secret, seal_secret
from crypto.totp import code_at, match_step, new_totp_secret

NOW = 1_790_000_000


def test_totp_window_and_single_use() -> None:
    s = new_totp_secret()
    step = NOW // 30
    assert match_step(s, code_at(s, NOW), now=NOW, last_step=None) == step
    assert match_step(s, code_at(s, NOW - 30), now=NOW, last_step=None) == step - 1
    assert match_step(s, code_at(s, NOW + 30), now=NOW, last_step=None) == step + 1
    assert match_step(s, code_at(s, NOW - 60), now=NOW, last_step=None) is None
    assert match_step(s, code_at(s, NOW + 60), now=NOW, last_step=None) is None
    assert match_step(s, code_at(s, NOW), now=NOW, last_step=step) is None  # replay
    assert match_step(s, code_at(s, NOW), now=NOW - 30, last_step=step) is None  # clock stepped back


@pytest.mark.parametrize("code", ["", "12345", "1234567", "١٢٣٤٥٦", "12 456", "abcdef", None])
def test_malformed_codes_refused(code) -> None:
    assert match_step(new_totp_secret(), code, now=NOW, last_step=None) is None


def test_codes_normalise_and_reject() -> None:
    code = new_activation_code()
    assert len(code) == 19 and normalise_code(code.lower().replace("-", " ")) == code
    assert len(new_recovery_code()) == 29
    for bad in ["", "ABCD-EFG", "ABCD-EF0H", "ABC\x00-DEFG", "x" * 100, "ÄBCD-EFGH"]:
        assert normalise_code(bad) is None


def test_secretbox_binds_purpose_and_subject() -> None:
    master = b"m" * 32
    box = seal_secret(master, "totp", "r1", b"JBSWY3DP")
    assert open_secret(master, "totp", "r1", box) == b"JBSWY3DP"
    for args in [(b"n" * 32, "totp", "r1"), (master, "phrase", "r1"), (master, "totp", "r2")]:
        with pytest.raises(OpenError):
            open_secret(*args, box)
