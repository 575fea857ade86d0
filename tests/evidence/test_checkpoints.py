"""Checkpoints: signed while events flow (at least every 5 s), on demand, and cosigned."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from crypto.merkle import record_hash, verify_inclusion
from crypto.note import cosign, generate_cosigner, open_checkpoint
from postbox import checkpoints, cosignatures, delivery, log
from postbox.errors import Conflict, InvalidInput
from postbox.models import Evidence
from tests.fixtures.postbox import pdf_bytes

from .conftest import WITNESS_SEED


def _event(pb, clock) -> None:  # type: ignore[no-untyped-def]
    delivery.deliver(pb, "acme", "CUST-1", io.BytesIO(pdf_bytes("x")), "S", "s.pdf")


@pytest.fixture
def acme(pb, clock):  # type: ignore[no-untyped-def]
    from postbox import orgs, recipients

    orgs.create_org(pb, "Acme Bank", "acme")
    recipients.invite_recipient(pb, "acme", "CUST-1", "c1@example.org")


def test_worker_tick_signs_within_5_seconds_while_events_flow(pb, clock, acme) -> None:
    assert checkpoints.log_tick(pb).size == 0  # the empty log gets one checkpoint
    clock.advance(seconds=60)
    assert checkpoints.log_tick(pb) is None  # nothing happened since
    signed_at, covered_at = [], {}
    for second in range(46):  # events for 40 s, with a pause each tenth second, then quiet
        if second < 40 and second % 10 != 9:
            _event(pb, clock)
        cp = checkpoints.log_tick(pb)
        if cp is not None:
            signed_at.append(second)
            covered_at[cp.size] = second
        clock.advance(seconds=1)
    assert max(b - a for a, b in zip(signed_at, signed_at[1:])) <= 5
    assert signed_at[-1] <= 40  # and none while nothing happens
    # every event (two evidences per delivery) is in a checkpoint at most 5 s later
    sizes = sorted(covered_at)
    for second in range(40):
        if second % 10 == 9:
            continue
        needed = 2 * sum(1 for s in range(second + 1) if s % 10 != 9)
        first = min(covered_at[s] for s in sizes if s >= needed)
        assert first - second <= 5
    assert checkpoints.latest(pb).size == log.tree_size(pb)[0] == 2 * 36


def test_on_demand_checkpoint_covers_everything_and_verifies(pb, clock, acme) -> None:
    _event(pb, clock)
    signed = checkpoints.sign_checkpoint(pb)
    assert signed.size == 2
    verifier = checkpoints.log_verifier(pb)
    cp, cosigs = open_checkpoint(signed.note, verifier)
    assert (cp.size, cp.root, cosigs) == (2, log.tree_size(pb)[1], ())
    assert checkpoints.sign_checkpoint(pb).note == signed.note  # nothing new: the same one
    with pb.uow() as uow:
        bodies = list(uow.session.scalars(select(Evidence.body).order_by(Evidence.leaf_index)))
    for i, body in enumerate(bodies):
        verify_inclusion(i, 2, record_hash(body), log.inclusion_proof(pb, i, 2), cp.root)


def test_cosignatures_are_kept_only_from_registered_witnesses(pb, clock, acme) -> None:
    _event(pb, clock)
    signed = checkpoints.sign_checkpoint(pb)
    body = signed.note.decode()[: signed.note.decode().index("\n\n") + 1]
    signer, verifier = generate_cosigner("witness.example", WITNESS_SEED)
    line = cosign(body, signer, 1_800_000_000)
    with pytest.raises(InvalidInput):  # not registered yet
        cosignatures.add_cosignatures(pb, (body + "\n" + line).encode())
    cosignatures.add_witness(pb, verifier)
    assert cosignatures.add_cosignatures(pb, (body + "\n" + line).encode()) == (
        2, ["witness.example"])
    assert cosignatures.add_cosignatures(pb, (body + "\n" + line).encode())[1] == [
        "witness.example"]  # posting again is harmless
    latest = checkpoints.latest(pb)
    assert latest.witnesses == ("witness.example",)
    _, cosigs = open_checkpoint(latest.note, checkpoints.log_verifier(pb), [verifier])
    assert [c.timestamp for c in cosigs] == [1_800_000_000]
    forged = line[:-6] + ("A" if line[-6] != "A" else "B") + line[-5:]
    other = body.replace("\n2\n", "\n1\n")
    with pytest.raises(Conflict):  # a checkpoint this log never signed
        cosignatures.add_cosignatures(pb, (other + "\n" + cosign(other, signer, 1)).encode())
    _event(pb, clock)
    body2 = checkpoints.sign_checkpoint(pb).note.decode().split("\n\n")[0] + "\n"
    with pytest.raises(InvalidInput):  # a bad signature by a known witness
        cosignatures.add_cosignatures(pb, (body2 + "\n" + forged).encode())
    with pytest.raises(InvalidInput):
        cosignatures.add_witness(pb, checkpoints.log_verifier(pb))  # not a witness key


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_tick_never_raises_and_the_log_cli_works(pb, clock, acme, caplog) -> None:
    from click.testing import CliRunner

    from cli.main import main
    from postbox.instance import log_key_file
    from tests.fixtures.postbox import CHEAP_ENV

    key = log_key_file(pb.settings)
    saved = key.read_bytes()
    key.unlink()
    _event(pb, clock)
    assert checkpoints.log_tick(pb) is None  # no log key: logged, the worker goes on
    assert "log tick failed" in caplog.text
    key.write_bytes(saved)
    s = pb.settings
    env = {"POSTBOX_HOME": str(s.home), "POSTBOX_DATABASE_URL": s.database_url,
           "POSTBOX_MASTER_KEY": s.master_key_hex, **CHEAP_ENV}
    run = CliRunner()
    note = run.invoke(main, ["log", "checkpoint"], env=env)
    assert note.exit_code == 0 and note.stdout.startswith(checkpoints.origin(pb) + "\n2\n")
    _, verifier = generate_cosigner("desk", WITNESS_SEED)
    added = run.invoke(main, ["log", "add-witness", verifier], env=env)
    assert added.exit_code == 0 and "witness desk added" in added.stdout
    status = run.invoke(main, ["log", "status"], env=env).stdout
    assert "tree size 2" in status and "checkpoint size 2" in status
    trust_doc = run.invoke(main, ["log", "trust"], env=env).stdout
    assert verifier in trust_doc
    assert run.invoke(main, ["log", "add-witness", "nonsense"], env=env).exit_code == 1
