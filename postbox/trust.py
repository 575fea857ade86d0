"""What verifiers must trust, and rotating the evidence signing key without breaking old proofs.

The trust file lists every evidence key the service ever signed with (``signing_keys``) and
its validity period, the log's checkpoint key and the witnesses. Rotation never deletes a
public key: evidence signed before keeps verifying against the old key's period. The private
seed of the old key is destroyed, so nobody can sign more evidence with it.

Rotation, safe to re-run after a crash at any step:
1. write the new seed to ``keys/evidence.next.key`` (0600), unless it is already there;
2. in one transaction, end the old key's period at ``now + overlap`` and register the new key
   from ``now - overlap`` (deliveries that straddle the switch verify under either key);
3. replace ``keys/evidence.key`` by the new file (one rename).
Processes still holding the old key keep signing only until its period ends; after that
``evidence.record`` refuses (restart web and worker within the overlap).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto.signing import generate_signing_seed
from postbox import checkpoints
from postbox.bootstrap import Postbox
from postbox.config import Settings
from postbox.errors import ConfigError
from postbox.instance import (
    _read_hex_key,
    evidence_key_file,
    load_evidence_key,
    write_secret_file,
)
from postbox.keyring import EvidenceKey
from postbox.models import Evidence, SigningKey
from postbox.proofs.trustfile import EvidenceKey as TrustedKey
from postbox.proofs.trustfile import dump_trust

PURPOSE = "evidence"
DEFAULT_OVERLAP = timedelta(minutes=15)


def next_key_file(settings: Settings) -> Path:
    return settings.key_dir / "evidence.next.key"


def register_key(session: Session, key: EvidenceKey, now: datetime) -> SigningKey:
    """The key's row, created if missing (valid from its first evidence, or from now)."""
    row = session.get(SigningKey, key.key_id)
    if row is None:
        first = session.scalar(select(func.min(Evidence.created_at))
                               .where(Evidence.key_id == key.key_id))
        start = min(first, now) if first is not None else now
        row = SigningKey(key_id=key.key_id, purpose=PURPOSE, public_key=key.public_key,
                         valid_from=start, valid_until=None, created_at=now)
        session.add(row)
        session.flush()
    return row


def evidence_keys(pb: Postbox) -> list[TrustedKey]:
    """Every evidence key with its period, the current one registered if it was not yet."""
    with pb.uow() as uow:
        s = uow.session
        if pb.keys.evidence_key is not None and s.get(SigningKey, pb.keys.evidence_key.key_id) \
                is None:
            register_key(s, pb.keys.evidence_key, pb.clock.now())
            try:
                uow.commit()
            except IntegrityError:  # another node registered it a moment ago
                uow.rollback()
        rows = s.scalars(select(SigningKey).where(SigningKey.purpose == PURPOSE)
                         .order_by(SigningKey.valid_from, SigningKey.key_id))
        return [TrustedKey(r.key_id, bytes(r.public_key), r.valid_from, r.valid_until)
                for r in rows]


def cosignatures_required(witness_count: int) -> int:
    """One witness's cosignature when any witness is registered (a policy a verifier may
    tighten in its own copy of the trust file)."""
    return 1 if witness_count else 0


def trust_document(pb: Postbox) -> bytes:
    """The current trust file (trust.json)."""
    witnesses = [w.verifier for w in checkpoints.witnesses(pb)]
    return dump_trust(checkpoints.origin(pb), [checkpoints.log_verifier(pb)], evidence_keys(pb),
                      witnesses, cosignatures_required(len(witnesses)), pb.settings.public_url)


@dataclass(frozen=True)
class Rotation:
    old_key_id: str
    new_key_id: str
    old_valid_until: datetime
    new_valid_from: datetime


def rotate_signing_key(pb: Postbox, overlap: timedelta = DEFAULT_OVERLAP) -> Rotation:
    """Replace the evidence signing key (see the module docstring for the steps)."""
    if overlap < timedelta(0):
        raise ConfigError("the overlap cannot be negative")
    settings, now = pb.settings, pb.clock.now()
    current = load_evidence_key(settings)
    if current is None:
        raise ConfigError("there is no evidence key to rotate; run `postbox init`")
    pending = next_key_file(settings)
    write_secret_file(pending, generate_signing_seed().hex().encode() + b"\n")  # kept if there
    new = EvidenceKey.from_seed(_read_hex_key(pending, "new evidence key"))
    if new.key_id == current.key_id:  # a crash after step 3 left a stale copy behind
        pending.unlink()
        raise ConfigError("the pending key is already current; run the rotation again")
    with pb.uow() as uow:
        s = uow.session
        old_row = register_key(s, current, now)
        if old_row.valid_until is None or old_row.valid_until > now + overlap:
            old_row.valid_until = now + overlap
        new_row = s.get(SigningKey, new.key_id)
        if new_row is None:
            new_row = SigningKey(key_id=new.key_id, purpose=PURPOSE, public_key=new.public_key,
                                 valid_from=now - overlap, valid_until=None, created_at=now)
            s.add(new_row)
        uow.commit()
        result = Rotation(current.key_id, new.key_id, old_row.valid_until, new_row.valid_from)
    os.replace(pending, evidence_key_file(settings))  # the old seed is gone from here on
    _fsync_dir(settings.key_dir)
    pb.keys.evidence_key = new
    return result


def _fsync_dir(path: os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
