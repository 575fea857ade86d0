"""The invariant checker catches what it claims to: each check sees a planted violation.

A checker that never fails proves nothing, so every invariant is shown failing here once.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import sqlite3

import pytest
from sqlalchemy import select, text, update

from postbox import delivery, reading
from postbox.models import Document, Evidence, new_id
from tests.reliability.invariants import (
    NAMES,
    Invariants,
    Violation,
    World,
    default_invariants,
    needles,
)
from tests.reliability.rig import canary_pdf, enrol, login, stream


@pytest.fixture
def delivered(pb, clock):
    """One recipient, two documents, one of them opened (so a countersigned record exists)."""
    cast = enrol(pb, clock)
    person = cast.people[0]
    docs = []
    for i in range(2):
        pdf, canary = canary_pdf(f"INV-{i}")
        receipt = delivery.deliver(pb, cast.org, person.external_id, stream(pdf), f"S{i}",
                                   f"s{i}.pdf")
        docs.append((receipt.document_id, canary))
    reading.read_all(pb, login(pb, person), docs[0][0])
    return cast, docs


def _only(found: list[Violation], name: str) -> list[str]:
    return [v.detail for v in found if v.invariant == name]


def test_a_clean_world_holds_with_every_invariant_checked(pb, delivered, tmp_path,
                                                         invariants) -> None:
    cast, docs = delivered
    world = World(pb, folders=[tmp_path], canaries=cast.canaries + [c for _, c in docs])
    invariants.assert_holds(world)
    assert set(NAMES) <= {"I1", "I2", "I3", "I4", "I5", "I6"}
    assert all(invariants.checks(name) for name in NAMES)


def test_i1_sees_missing_corrupt_and_orphan_blobs(pb, delivered, invariants) -> None:
    _, docs = delivered
    with pb.uow() as uow:
        keys = dict(uow.session.execute(select(Document.id, Document.blob_key)).all())
    (pb.store.root / keys[docs[0][0]]).unlink()
    path = pb.store.root / keys[docs[1][0]]
    data = bytearray(path.read_bytes())
    data[200] ^= 4
    path.write_bytes(bytes(data))
    pb.store.put(f"docs/00/00/{new_id()}", stream(b"stray"))
    found = " | ".join(_only(invariants.run(World(pb), only=["I1"]), "I1"))
    assert "blob is missing" in found and "differ from the record" in found
    assert "orphan blob docs/00/00/" in found


def test_i4_finds_canaries_raw_base64_in_files_blobs_and_logs(pb, delivered, tmp_path,
                                                             invariants) -> None:
    cast, docs = delivered
    secret = cast.people[0].totp_secret
    mail = tmp_path / "outbox" / "n.eml"
    mail.parent.mkdir()
    body = base64.encodebytes(f"your code is {secret}".encode()).decode()
    mail.write_text(f"Content-Transfer-Encoding: base64\n\n{body}")
    (tmp_path / "spool.tmp").write_bytes(b"\0\1" + docs[1][1].encode() + b"\2")
    pb.store.put(f"docs/00/01/{new_id()}", stream(f"pin={cast.canaries[0]}".encode()))
    world = World(pb, folders=[tmp_path], canaries=[secret, docs[1][1], cast.canaries[0]],
                  logs=[f"login ok for totp {secret}"])
    found = _only(invariants.run(world, only=["I4"]), "I4")
    assert any("base64" in f and f.endswith("n.eml") for f in found), found
    assert any("spool.tmp" in f for f in found) and any("in blob docs/00/01/" in f for f in found)
    assert any("log record #0" in f for f in found)
    shown = " ".join(found)
    assert secret not in shown and docs[1][1] not in shown  # reports never repeat a secret


def test_i4_needles_cover_every_base64_alignment() -> None:
    canary = "CANARY-abcdef123456"
    for prefix in (b"", b"x", b"xy", b"xyz"):
        encoded = base64.b64encode(prefix + canary.encode())
        assert any(p in encoded for kind, p in needles(canary) if kind.startswith("base64"))


def test_i5_sees_forged_bodies_broken_chains_and_bad_countersignatures(
        pb, delivered, invariants) -> None:
    _, docs = delivered
    first, second = docs[0][0], docs[1][0]
    with pb.uow() as uow:
        s = uow.session
        retrieved = s.scalar(select(Evidence).where(Evidence.document_id == first,
                                                    Evidence.event == "retrieved"))
        retrieved.countersignature = bytes(64)
        consigned = s.scalar(select(Evidence).where(Evidence.document_id == second,
                                                    Evidence.event == "consigned"))
        forged = json.loads(consigned.body)
        forged["time"] = "2020-01-01T00:00:00.000000Z"
        consigned.body = json.dumps(forged).encode()
        uow.commit()
    found = " | ".join(_only(invariants.run(World(pb), only=["I5"]), "I5"))
    assert "countersignature does not verify" in found
    assert "record_hash is not the SHA-256" in found and "signature does not verify" in found
    with pb.uow() as uow:
        uow.session.execute(update(Evidence).where(Evidence.document_id == second)
                            .values(prev_hash=None))
        uow.commit()
    assert "2 chain heads" in " | ".join(_only(invariants.run(World(pb), only=["I5"]), "I5"))


def test_i6_sees_a_dangling_foreign_key(pb, delivered, invariants) -> None:
    _, docs = delivered
    ghost = "f" * 32
    if pb.engine.dialect.name == "sqlite":
        path = pb.engine.url.database
        pb.engine.dispose()
        with sqlite3.connect(path) as raw:  # foreign keys are off on a plain connection
            raw.execute("UPDATE documents SET recipient_id = ? WHERE id = ?", (ghost, docs[0][0]))
    else:
        with pb.engine.begin() as conn:  # superuser on the test server: skip FK triggers
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(update(Document).where(Document.id == docs[0][0])
                         .values(recipient_id=ghost))
    found = " | ".join(_only(invariants.run(World(pb), only=["I6"]), "I6"))
    assert "documents.recipient_id point to no recipients.id" in found
    if pb.engine.dialect.name == "sqlite":
        assert "foreign_key_check" in found


def test_checks_plug_in_and_a_crashing_check_is_reported(pb) -> None:
    checker = Invariants()

    def notices_match(world: World):
        yield Violation("I3", "recipient r1 got 2 notices with different Message-IDs")

    def broken(world: World):
        raise RuntimeError("boom")
        yield  # pragma: no cover

    checker.add("I3", notices_match)
    checker.add("I2", broken)
    found = [str(v) for v in checker.run(World(pb))]
    assert "I3: recipient r1 got 2 notices with different Message-IDs" in found
    assert "I2: broken crashed: RuntimeError: boom" in found
    with pytest.raises(AssertionError, match="invariants violated"):
        checker.assert_holds(World(pb), only=["I3"])
    assert notices_match not in default_invariants().checks("I3")  # the default set is untouched


def test_i4_ignores_excluded_paths(pb, tmp_path, invariants) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "master.key").write_text("00" * 32)
    world = World(pb, folders=[tmp_path], canaries=["00" * 32], exclude=[keys])
    assert invariants.run(world, only=["I4"]) == []
    logging.getLogger(__name__).debug("excluded %s", os.fspath(keys))


def test_i3_sees_doubled_arrivals_early_notices_and_foreign_message_ids(
        pb, delivered, clock, invariants) -> None:
    from email.message import EmailMessage

    from postbox.models import NoticeItem
    from postbox.worker import Worker

    Worker(pb).drain()  # the arrivals become one coalesced notice
    world = World(pb)
    assert _only(invariants.run(world), "I3") == []
    (doc_id, _), _ = delivered[1]
    with pb.uow() as uow:
        s = uow.session
        sent = s.scalars(select(NoticeItem).where(NoticeItem.state == "sent")).first()
        assert sent is not None
        s.add(NoticeItem(id=new_id(), recipient_id=sent.recipient_id, document_id=doc_id,
                         org_id=sent.org_id, reason="arrival", state="sent", job_id=None,
                         created_at=clock.now()))
        uow.commit()
    stray = EmailMessage()
    stray["Message-ID"], stray["To"] = "<forged@localhost>", "a@example.org"
    stray.set_content("hello")
    found = _only(invariants.run(World(pb, extra={"mails": [stray]})), "I3")
    assert any("arrival notices" in f for f in found), found
    assert any("without a finished e-mail" in f for f in found), found
    assert any("belongs to no notice job" in f for f in found), found
