"""Stanzas are written before the blob: a delivery that dies after that leaves stanzas for a
document that never existed, and the reaper removes them (committed ones stay)."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from postbox import delegation, delivery
from postbox.models import DelegateStanza
from postbox.reaper import reap_orphans
from tests.delegation.test_service import tomorrow
from tests.fixtures.postbox import pdf_bytes
from tests.integration.postbox.test_reaper import CrashAfterPut


def _stanza_docs(pb) -> set[str]:
    with pb.uow() as uow:
        return set(uow.session.scalars(select(DelegateStanza.document_id)))


def test_stanzas_of_a_delivery_that_never_committed_are_reaped(pb, clock, org, owner,
                                                               delegate) -> None:
    grant = delegation.grant(pb, owner.vault(pb), "dan@example.org", tomorrow(clock))
    delegation.accept(pb, delegate.vault(pb), grant.id)
    kept = delivery.deliver(pb, org, "CUST-1", io.BytesIO(pdf_bytes("kept")), "Kept",
                            "kept.pdf").document_id
    real = pb.store
    crashing = CrashAfterPut(real, pb)
    pb.store = crashing
    with pytest.raises(Exception):
        delivery.deliver(pb, org, "CUST-1", io.BytesIO(pdf_bytes("lost")), "Lost", "lost.pdf")
    pb.store, pb.keys.evidence_key = real, crashing.saved
    stanzas = _stanza_docs(pb)
    assert kept in stanzas and len(stanzas) == 2  # one for a document that does not exist

    assert reap_orphans(pb).stanzas == 0  # within the grace period: left alone
    clock.advance(minutes=16)
    report = reap_orphans(pb)
    assert report.stanzas == 1 and len(report.removed) == 1
    assert _stanza_docs(pb) == {kept}
