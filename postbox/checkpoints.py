"""Checkpoints of the evidence log (C2SP tlog-checkpoint signed notes) and their cosignatures.

The worker signs a checkpoint while events flow: :func:`log_tick` sequences new evidence and
signs when the tree grew and the last checkpoint is ``CHECKPOINT_INTERVAL_S`` old, so with the
worker's one-second poll a checkpoint covers any event within 5 s. Anyone may ask for one on
demand (:func:`sign_checkpoint`). Each checkpoint is served with the cosignatures witnesses
posted back (postbox/cosignatures.py).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from crypto.note import (
    Checkpoint,
    NoteError,
    append_signatures,
    format_checkpoint,
    parse_checkpoint,
    sign_note,
    verifier_key,
)
from postbox import log
from postbox.bootstrap import Postbox
from postbox.errors import ConfigError, PostboxError
from postbox.instance import log_key_file
from postbox.models import LogCheckpoint, LogCosignature, LogWitness

CHECKPOINT_INTERVAL_S = 4.0
_log = logging.getLogger("postbox.checkpoints")


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: bytes  # the log's signed note, with every stored cosignature line appended
    created_at: datetime
    witnesses: tuple[str, ...]  # names of the witnesses whose cosignature lines are appended

    @property
    def size(self) -> int:
        return self.checkpoint.size


def log_signer(pb: Postbox) -> str:
    """The log's note signer key from ``keys/log.key`` (made by ``postbox init``)."""
    path = log_key_file(pb.settings)
    try:
        key = path.read_text().strip()
    except OSError:
        raise ConfigError(f"the log key {path} is missing; run `postbox init`") from None
    try:
        verifier_key(key)
    except NoteError:
        raise ConfigError(f"the log key in {path} is malformed") from None
    return key


def log_verifier(pb: Postbox) -> str:
    return verifier_key(log_signer(pb))


def origin(pb: Postbox) -> str:
    return log_verifier(pb).split("+", 1)[0]


def _cosignatures(session: Session, size: int) -> list[tuple[str, str]]:
    rows = session.execute(select(LogWitness.name, LogCosignature.line)
                           .join(LogWitness, LogWitness.id == LogCosignature.witness_id)
                           .where(LogCosignature.size == size)
                           .order_by(LogWitness.name)).all()
    return [(name, line) for name, line in rows]


def _signed(session: Session, row: LogCheckpoint) -> SignedCheckpoint:
    cosigs = _cosignatures(session, row.size)
    note = append_signatures(bytes(row.note), [line for _, line in cosigs])
    text = bytes(row.note).decode()
    body = text[: text.rfind("\n\n") + 1]
    return SignedCheckpoint(parse_checkpoint(body), note, row.created_at,
                            tuple(name for name, _ in cosigs))


def latest(pb: Postbox) -> SignedCheckpoint | None:
    with Session(pb.engine) as session:
        row = session.scalar(select(LogCheckpoint).order_by(LogCheckpoint.size.desc())
                                 .limit(1))
        return _signed(session, row) if row is not None else None


def at_size(pb: Postbox, size: int) -> SignedCheckpoint | None:
    with Session(pb.engine) as session:
        row = session.get(LogCheckpoint, size)
        return _signed(session, row) if row is not None else None


def covering(pb: Postbox, size: int, cosigned_by: int) -> SignedCheckpoint | None:
    """The checkpoint for a proof of the first ``size`` leaves: the largest with at least
    ``cosigned_by`` cosignatures, else the largest of all (None: no checkpoint that big)."""
    cosigned = (select(LogCosignature.size).group_by(LogCosignature.size)
                .having(func.count() >= cosigned_by))
    with Session(pb.engine) as session:
        newest = select(LogCheckpoint).where(LogCheckpoint.size >= size) \
            .order_by(LogCheckpoint.size.desc()).limit(1)
        row = session.scalar(newest.where(LogCheckpoint.size.in_(cosigned))) if cosigned_by \
            else None
        row = row if row is not None else session.scalar(newest)
        return _signed(session, row) if row is not None else None


def _sign(pb: Postbox, interval_s: float | None) -> SignedCheckpoint | None:
    """Sign the current tree unless the newest checkpoint already has its size (then return
    that one) or, with ``interval_s``, is younger than that (then None)."""
    signer = log_signer(pb)
    now = pb.clock.now()
    with pb.uow() as uow:
        s = uow.session
        st = log.state(s)
        last = s.scalar(select(LogCheckpoint).order_by(LogCheckpoint.size.desc()).limit(1))
        if last is not None and last.size >= st.size:
            return _signed(s, last) if interval_s is None else None
        if (interval_s is not None and last is not None
                and now - last.created_at < timedelta(seconds=interval_s)):
            return None
        checkpoint = Checkpoint(origin(pb), st.size, st.root)
        note = sign_note(format_checkpoint(checkpoint), [signer])
        s.add(LogCheckpoint(size=st.size, root=st.root, note=note, created_at=now))
        try:
            uow.commit()
        except IntegrityError:  # another node signed this size a moment ago: same note
            uow.rollback()
            row = s.get(LogCheckpoint, st.size)
            return _signed(s, row) if row is not None and interval_s is None else None
        return SignedCheckpoint(checkpoint, note, now, ())


def sign_checkpoint(pb: Postbox) -> SignedCheckpoint:
    """On demand: sequence everything committed, then sign the tree (or return the newest
    checkpoint when it already covers the whole tree)."""
    log.sequence_pending(pb, wait=True)
    signed = _sign(pb, None)
    assert signed is not None  # _sign returns a checkpoint when no interval is given
    return signed


def sign_checkpoint_if_due(pb: Postbox,
                           interval_s: float = CHECKPOINT_INTERVAL_S) -> Checkpoint | None:
    """The worker's checkpoint: signed when the tree grew since the newest checkpoint and that
    one is at least ``interval_s`` old; the new checkpoint, or None."""
    signed = _sign(pb, interval_s)
    return signed.checkpoint if signed is not None else None


def log_tick(pb: Postbox) -> Checkpoint | None:
    """What the worker runs every poll: sequence new evidence, then a checkpoint if due.

    Never raises: a failure is logged and the next tick tries again, so the worker's own
    loop (``Worker.run_forever(..., tick=...)``) keeps running."""
    try:
        log.sequence_pending(pb)
        return sign_checkpoint_if_due(pb)
    except (PostboxError, SQLAlchemyError) as exc:
        _log.warning("evidence log tick failed: %s", exc)
        return None


@dataclass(frozen=True)
class WitnessView:
    id: str
    name: str
    verifier: str
    added_at: datetime


def witnesses(pb: Postbox) -> list[WitnessView]:
    with Session(pb.engine) as session:
        return [WitnessView(w.id, w.name, w.verifier, w.added_at) for w in session.scalars(
            select(LogWitness).where(LogWitness.removed_at.is_(None)).order_by(LogWitness.name))]
