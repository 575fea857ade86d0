"""What must hold after a many-node run: notices and the Merkle log.

Invariants I1, I5 and I6 come from tests/reliability/invariants.py; these add the two things
a run with several writers can break that one process cannot:

- notices: per recipient, distinct notices (Message-IDs) at least one notice window apart;
  every document covered by exactly one ``notified`` evidence; an e-mail sent twice only
  with the same Message-ID, and no more often than the documented bound (docs/scale.md);
- the log: every checkpoint, whichever process signed it, is signed by the log key, has the
  root that an independent computation over the evidence gets for its size, and is consistent
  with the next one by the service's own RFC 9162 proof.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from sqlalchemy import func, select

from crypto.merkle import node_hash, record_hash, verify_consistency
from crypto.note import open_checkpoint
from postbox import checkpoints, log, notices
from postbox.bootstrap import Postbox
from postbox.models import Evidence, LogCheckpoint, Outbox
from tests.fixtures.smtp import Transaction


@dataclass(frozen=True)
class NoticeFigures:
    emails: int
    distinct: int
    duplicates: int
    most_per_recipient: int
    smallest_gap_s: float | None


def check_notices(pb: Postbox, accepted: list[Transaction], recipients: set[str],
                  window_s: int, max_duplicates: int) -> NoticeFigures:
    dates: dict[str, dict[str, float]] = defaultdict(dict)  # address -> Message-ID -> Date
    for tx in accepted:
        msg = tx.message
        [rcpt] = tx.rcpt_tos
        when = parsedate_to_datetime(msg["Date"]).timestamp()
        seen = dates[rcpt].setdefault(msg["Message-ID"], when)
        assert seen == when, f"{msg['Message-ID']} was sent twice with different dates"
    assert set(dates) == recipients, f"no notice for {sorted(recipients - set(dates))[:5]}"
    distinct = sum(len(ids) for ids in dates.values())
    duplicates = len(accepted) - distinct
    assert duplicates <= max_duplicates, \
        f"{duplicates} duplicate e-mails; the documented bound is {max_duplicates}"
    gaps = [b - a for ids in dates.values() for a, b in zip(sorted(ids.values()),
                                                            sorted(ids.values())[1:])]
    # The Date header has whole seconds; the schedule keeps notices >= window_s apart.
    assert all(gap >= window_s for gap in gaps), f"two notices {min(gaps)} s apart"
    with pb.uow() as uow:
        s = uow.session
        done = {notices.message_id(job_id, pb.settings) for job_id in s.scalars(
            select(Outbox.id).where(Outbox.kind == notices.MAIL_KIND, Outbox.status == "done"))}
        per_document = list(s.execute(
            select(Evidence.document_id, func.count()).where(Evidence.event == "notified")
            .group_by(Evidence.document_id)).all())
    sent = {mid for ids in dates.values() for mid in ids}
    assert sent == done, f"e-mails without a finished job: {sorted(sent - done)[:3]}; " \
                         f"finished jobs without an e-mail: {sorted(done - sent)[:3]}"
    assert all(n == 1 for _, n in per_document), "a document was notified twice"
    return NoticeFigures(len(accepted), distinct, duplicates,
                         max(len(ids) for ids in dates.values()), min(gaps) if gaps else None)


def _roots(leaves: list[bytes], sizes: set[int]) -> dict[int, bytes]:
    """RFC 9162 roots of the first n leaves for each n in sizes, in one pass (a stack of
    perfect subtrees, folded from the right), written apart from crypto.merkle's tiles."""
    found: dict[int, bytes] = {}
    stack: list[tuple[int, bytes]] = []  # (height, hash)
    for n, leaf in enumerate(leaves, start=1):
        stack.append((0, leaf))
        while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            (height, right), (_, left) = stack.pop(), stack.pop()
            stack.append((height + 1, node_hash(left, right)))
        if n in sizes:
            root = stack[-1][1]
            for _, h in reversed(stack[:-1]):
                root = node_hash(h, root)
            found[n] = root
    return found


def check_log(pb: Postbox) -> tuple[int, int]:
    """(tree size, checkpoints) after every committed evidence is sequenced and signed."""
    log.sequence_pending(pb, wait=True)
    final = checkpoints.sign_checkpoint(pb)
    verifier = checkpoints.log_verifier(pb)
    with pb.uow() as uow:
        s = uow.session
        bodies = list(s.execute(select(Evidence.leaf_index, Evidence.body)
                                .order_by(Evidence.leaf_index)).all())
        notes = [(row.size, bytes(row.root), bytes(row.note))
                 for row in s.scalars(select(LogCheckpoint).order_by(LogCheckpoint.size))]
    assert [i for i, _ in bodies] == list(range(len(bodies))), "leaf indexes are not 0..n-1"
    assert final.size == len(bodies), "the final checkpoint does not cover every evidence"
    sizes = {size for size, _, _ in notes if size > 0}
    roots = _roots([record_hash(bytes(body)) for _, body in bodies], sizes)
    previous: tuple[int, bytes] | None = None
    for size, root, note in notes:
        checkpoint, _ = open_checkpoint(note, verifier)
        assert (checkpoint.size, checkpoint.root) == (size, root), f"checkpoint {size}: row"
        if size:
            assert root == roots[size], f"checkpoint {size} disagrees with the evidence"
        if previous is not None and previous[0]:
            verify_consistency(previous[0], size, previous[1], root,
                               log.consistency_proof(pb, previous[0], size))
        previous = (size, root)
    return final.size, len(notes)
