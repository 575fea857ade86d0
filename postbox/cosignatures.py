"""Witnesses of the evidence log: who may cosign, and taking in their cosignatures.

The operator registers a witness's cosignature/v1 verifier key (``postbox log add-witness``);
the trust file lists every active one. A witness posts a checkpoint with its cosignature line
(``POST /api/v1/log/cosignature``); only a valid line by a registered witness on a checkpoint
this log signed is kept, once per witness and checkpoint.
"""
from __future__ import annotations

import base64
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crypto.note import (
    Checkpoint,
    NoteError,
    format_checkpoint,
    parse_checkpoint,
    verify_cosignature,
)
from postbox.bootstrap import Postbox
from postbox.checkpoints import WitnessView, origin
from postbox.errors import Conflict, InvalidInput, NotFound
from postbox.models import LogCheckpoint, LogCosignature, LogWitness, new_id


def add_witness(pb: Postbox, verifier: str) -> WitnessView:
    """Accept cosignatures from this witness key (a cosignature/v1 verifier key)."""
    verifier = verifier.strip()
    try:
        name = witness_name(verifier)
    except NoteError as exc:
        raise InvalidInput(f"not a witness (cosignature/v1) verifier key: {exc}") from None
    if name == origin(pb):
        raise InvalidInput("a witness cannot be named like the log")
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        row = s.scalar(select(LogWitness).where(LogWitness.verifier == verifier))
        for other in s.scalars(select(LogWitness).where(  # a witness's new key replaces its old
                LogWitness.name == name, LogWitness.removed_at.is_(None))):
            if other is not row:
                other.removed_at = now
        if row is None:
            row = LogWitness(id=new_id(), name=name, verifier=verifier,
                             added_at=now)
            s.add(row)
        row.removed_at = None
        uow.commit()
        return WitnessView(row.id, row.name, row.verifier, row.added_at)


def remove_witness(pb: Postbox, name_or_verifier: str) -> None:
    with pb.uow() as uow:
        rows = list(uow.session.scalars(select(LogWitness).where(
            (LogWitness.name == name_or_verifier) | (LogWitness.verifier == name_or_verifier),
            LogWitness.removed_at.is_(None))))
        if not rows:
            raise NotFound(f"no active witness {name_or_verifier!r}")
        for row in rows:
            row.removed_at = pb.clock.now()
        uow.commit()


def witness_name(verifier: str) -> str:
    """The name in a cosignature/v1 verifier key; NoteError if it is not one."""
    name, _, rest = verifier.partition("+")
    try:
        key_id = bytes.fromhex(rest.partition("+")[0])
    except ValueError:
        raise NoteError("malformed verifier key") from None
    # A well-formed line with an all-zero signature: only a valid witness key gets as far as
    # checking the signature itself.
    line = f"\u2014 {name} " + base64.b64encode(key_id + bytes(72)).decode() + "\n"
    try:
        verify_cosignature(_PROBE, line, verifier)
    except NoteError as exc:
        if str(exc).startswith("invalid signature for key"):
            return name
        raise
    except ValueError:
        raise NoteError("malformed verifier key") from None
    raise NoteError("malformed verifier key")


_PROBE = format_checkpoint(Checkpoint("probe", 0, bytes(32)))


def add_cosignatures(pb: Postbox, note: bytes) -> tuple[int, list[str]]:
    """Store the cosignatures in ``note`` (a checkpoint we signed, then cosignature lines);
    returns the checkpoint size and the names of the witnesses whose lines were new."""
    try:
        text = note.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the note is not UTF-8") from None
    split = text.rfind("\n\n")
    if split < 0 or not text.endswith("\n"):
        raise InvalidInput("send the checkpoint, a blank line and the cosignature lines")
    body, lines = text[: split + 1], text[split + 2:-1].split("\n")
    try:
        checkpoint = parse_checkpoint(body)
    except NoteError as exc:
        raise InvalidInput(f"not a checkpoint: {exc}") from None
    accepted: list[str] = []
    problems: list[str] = []
    with pb.uow() as uow:
        s = uow.session
        row = s.get(LogCheckpoint, checkpoint.size)
        if row is None or format_checkpoint(checkpoint) != body or row.root != checkpoint.root:
            raise Conflict("this log never signed that checkpoint")
        known = {w.name: w for w in s.scalars(
            select(LogWitness).where(LogWitness.removed_at.is_(None)))}
        have = {w for (w,) in s.execute(select(LogCosignature.witness_id)
                                        .where(LogCosignature.size == checkpoint.size))}
        for line in lines:
            witness = known.get(line.removeprefix("\u2014 ").split(" ", 1)[0])
            if witness is None or not line.startswith("\u2014 "):
                continue  # someone else's signature: not ours to judge
            if witness.id in have:
                accepted.append(witness.name)  # already stored: posting again is harmless
                continue
            try:
                ts = verify_cosignature(body, line + "\n", witness.verifier)
            except NoteError as exc:
                problems.append(str(exc))
                continue
            s.add(LogCosignature(id=new_id(), size=checkpoint.size, witness_id=witness.id,
                                 line=line + "\n",
                                 signed_at=datetime.fromtimestamp(ts, UTC),
                                 created_at=pb.clock.now()))
            have.add(witness.id)
            accepted.append(witness.name)
        if problems:
            raise InvalidInput(f"cosignature refused: {problems[0]}")
        if not accepted:
            raise InvalidInput("no cosignature by a registered witness")
        try:
            uow.commit()
        except IntegrityError:  # the same witness posted twice at once: one copy is kept
            uow.rollback()
    return checkpoint.size, accepted
