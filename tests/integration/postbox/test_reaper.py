"""A crash between the blob put and the commit leaves nothing visible; the reaper cleans up."""
from __future__ import annotations

import io
from typing import BinaryIO

import pytest

from postbox import auth, delivery, reading
from postbox.reaper import reap_orphans
from storage.base import BlobStat
from storage.errors import StorageUnavailable

from .conftest import PIN


class CrashAfterPut:
    """A BlobStore (our port) whose put succeeds but whose process 'dies' before the commit:
    the database commit fails and the clean-up delete cannot reach the store either."""

    def __init__(self, inner, pb) -> None:
        self.inner, self.pb = inner, pb

    def put(self, key: str, stream: BinaryIO) -> BlobStat:
        stat = self.inner.put(key, stream)
        self.pb.keys.evidence_key, self.saved = None, self.pb.keys.evidence_key  # commit fails
        return stat

    def delete(self, key: str) -> None:
        raise StorageUnavailable("store unreachable during clean-up")

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def test_crash_between_put_and_commit_is_reaped(pb, clock, org, alice, make_pdf) -> None:
    real = pb.store
    crashing = CrashAfterPut(real, pb)
    pb.store = crashing
    with pytest.raises(Exception):
        delivery.deliver(pb, org, alice.external_id, io.BytesIO(make_pdf("x")), "S", "s.pdf")
    pb.store, pb.keys.evidence_key = real, crashing.saved
    orphans = list(real.list("docs/"))
    assert len(orphans) == 1  # the blob is there, but nothing points to it
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    assert reading.inbox(pb, vault).total == 0
    assert reap_orphans(pb).removed == []  # within the grace period: left alone
    clock.advance(minutes=16)
    assert reap_orphans(pb).removed == orphans
    assert list(real.list("docs/")) == []


def test_reaper_keeps_committed_documents(pb, clock, org, alice, make_pdf) -> None:
    doc = delivery.deliver(pb, org, alice.external_id, io.BytesIO(make_pdf("k")), "K", "k.pdf")
    clock.advance(minutes=16)
    report = reap_orphans(pb)
    assert report.removed == [] and len(list(pb.store.list("docs/"))) == 1
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    assert reading.read_all(pb, vault, doc.document_id)[1].startswith(b"%PDF")
