"""Master-key (pepper) rotation without re-encrypting any document.

1. Stamp every wrap that does not yet name its pepper with the outgoing key's fingerprint.
2. Write the new key, then retire the old file as ``keys/master-retired-<id>.key`` (each step
   is a rename; re-running the command after a crash picks up where it stopped).
3. Re-seal every small sealed secret (TOTP seeds, anti-phishing phrases) at once.
4. PIN wraps move to the new pepper at their owner's next login; activation wraps at
   activation; recovery wraps at the next recovery. Only then can a retired key go:
   :func:`finish` deletes a retired file when no wrap needs it any more.

Argon2id takes the pepper as ``secret=`` (DESIGN.md), so a wrap can only be re-derived with
its PIN or code in hand: this is why step 4 is lazy.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from sqlalchemy import func, select, update

from postbox.bootstrap import Postbox
from postbox.config import Settings
from postbox.errors import ConfigError, InvalidInput
from postbox.instance import (
    _read_hex_key, retired_master_key_files, write_secret_file,
)
from postbox.keyring import fingerprint
from postbox.models import Recipient, StaffUser, WebhookEndpoint, WrappedKey

# (model, column, purpose) of every value sealed under the master key.
SEALED_FIELDS = [
    (Recipient, "totp_secret_sealed", "totp"),
    (Recipient, "totp_pending_sealed", "totp"),
    (Recipient, "anti_phishing_sealed", "phrase"),
    (StaffUser, "totp_secret_sealed", "staff-totp"),
    (WebhookEndpoint, "secret_sealed", "webhook-secret"),
]
BATCH = 500


@dataclass
class RotationStatus:
    current: str
    retired: list[str]
    waiting: dict[str, dict[str, int]] = field(default_factory=dict)  # pepper id -> purpose -> n


def begin_rotation(settings: Settings, stamp: "callable[[str], None]") -> str:  # type: ignore[valid-type]
    """Steps 1-2 on the key files; ``stamp(old_id)`` records the outgoing id in the database.

    Returns the new key's fingerprint. Resumable: a leftover ``master.key.new`` is reused.
    """
    if settings.master_key_hex is not None:
        raise ConfigError("the master key comes from POSTBOX_MASTER_KEY; rotate it at its "
                          "source (KMS) and restart with the old key in a retired key file")
    current = settings.resolved_master_key_file
    pending = current.with_name(current.name + ".new")
    old = _read_hex_key(current, "master key")
    old_id = fingerprint(old)
    stamp(old_id)
    if not pending.exists():
        write_secret_file(pending, secrets.token_bytes(32).hex().encode() + b"\n")
    new_id = fingerprint(_read_hex_key(pending, "new master key"))
    os.replace(current, current.with_name(f"master-retired-{old_id}.key"))
    os.replace(pending, current)
    return new_id


def complete_interrupted_switch(settings: Settings) -> bool:
    """Finish a rotation that stopped between retiring the old file and installing the new
    one (the service cannot start in that state). True if there was one to finish."""
    if settings.master_key_hex is not None:
        return False
    current = settings.resolved_master_key_file
    pending = current.with_name(current.name + ".new")
    if current.exists() or not pending.exists():
        return False
    os.replace(pending, current)
    return True


def stamp_unmarked(pb: Postbox, pepper_id: str) -> int:
    with pb.uow() as uow:
        result = uow.session.execute(update(WrappedKey).where(WrappedKey.pepper_id.is_(None))
                                     .values(pepper_id=pepper_id))
        uow.commit()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def reseal_all(pb: Postbox) -> int:
    """Step 3: every sealed secret under the current key. Idempotent, so resumable."""
    changed = 0
    for model, column, purpose in SEALED_FIELDS:
        last = ""
        while True:
            with pb.uow() as uow:
                rows = list(uow.session.scalars(
                    select(model).where(model.id > last, getattr(model, column).is_not(None))
                    .order_by(model.id).limit(BATCH)))
                for row in rows:
                    fresh = pb.keys.reseal(purpose, row.id, getattr(row, column))
                    if fresh is not None:
                        setattr(row, column, fresh)
                        changed += 1
                uow.commit()
            if len(rows) < BATCH:
                break
            last = rows[-1].id
    return changed


def status(pb: Postbox) -> RotationStatus:
    report = RotationStatus(pb.keys.pepper_id, pb.keys.retired_ids)
    with pb.uow() as uow:
        rows = uow.session.execute(
            select(WrappedKey.pepper_id, WrappedKey.purpose, func.count())
            .where(WrappedKey.pepper_id.in_(pb.keys.retired_ids))
            .group_by(WrappedKey.pepper_id, WrappedKey.purpose))
        for pepper_id, purpose, count in rows:
            report.waiting.setdefault(pepper_id, {})[purpose] = count
    return report


def finish(pb: Postbox) -> list[str]:
    """Delete retired key files that no wrap needs any more; refuse while some still do."""
    report = status(pb)
    if report.waiting:
        detail = "; ".join(f"{pid}: " + ", ".join(f"{n} {p}" for p, n in sorted(by.items()))
                           for pid, by in sorted(report.waiting.items()))
        raise InvalidInput(f"retired master keys still protect wrapped keys ({detail}); they "
                           "move on at each owner's next login, activation or recovery")
    removed = []
    for path in retired_master_key_files(pb.settings):
        removed.append(path.name)
        path.unlink()
    return removed
