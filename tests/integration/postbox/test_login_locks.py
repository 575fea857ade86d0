"""The PIN check (Argon2id, the slow part of a login) runs with no transaction open.

On SQLite a transaction holds the instance-wide write lock, so a derivation inside one made
every other writer wait for it (bench/load.py L1/L3 saw 503s from that); on PostgreSQL it held
the account's row lock. While the derivation runs here, a second connection must be able to
take the write lock (SQLite) or the account's row (PostgreSQL) without waiting at all.
"""
from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from postbox import auth
from postbox.errors import AuthenticationFailed
from tests.fixtures.postbox import PIN


def _probe(pb, recipient_id: str) -> str:
    """Try to write right now, without waiting: 'free' or the database's refusal."""
    url = pb.engine.url
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(url.database, timeout=0)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.rollback()
            return "free"
        except sqlite3.OperationalError as exc:
            return str(exc)
        finally:
            conn.close()
    with pb.engine.connect() as conn:
        try:
            conn.execute(text("SELECT id FROM recipients WHERE id = :id FOR UPDATE NOWAIT"),
                         {"id": recipient_id})
            return "free"
        except Exception as exc:  # noqa: BLE001 - the refusal is the finding
            return type(exc).__name__
        finally:
            conn.rollback()


@pytest.mark.parametrize("pin_ok", [True, False], ids=["right-pin", "wrong-pin"])
def test_argon2_runs_without_holding_a_lock(pb, alice, pin_ok, monkeypatch) -> None:
    seen: list[str] = []
    derive = pb.keys.kek

    def spying_kek(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(_probe(pb, alice.recipient_id))
        return derive(*args, **kwargs)

    monkeypatch.setattr(pb.keys, "kek", spying_kek)
    pin = PIN if pin_ok else "918273"
    if pin_ok:
        assert auth.authenticate(pb, alice.email, pin, alice.otp()).token
    else:
        with pytest.raises(AuthenticationFailed):
            auth.authenticate(pb, alice.email, pin, alice.otp())
    assert seen and set(seen) == {"free"}, seen
