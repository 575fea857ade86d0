"""Retention: expired and long-deleted documents are purged, evidence stays; Object Lock refuses
early erasure on a real S3 server."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from postbox import auth, delivery, evidence, orgs, reading
from postbox.bootstrap import build
from postbox.clock import FrozenClock
from postbox.db import make_engine
from postbox.errors import NotFound
from postbox.instance import create_key_files
from postbox.integrity import check_storage
from postbox.models import Document, Evidence, Organisation
from postbox.retention import apply_retention
from tests.fixtures.postbox import START, cheap_settings, pdf_bytes

from .conftest import PIN, activate_person


def test_expired_and_deleted_documents_are_purged(pb, clock, org, alice, make_pdf) -> None:
    with pb.uow() as uow:
        uow.session.execute(update(Organisation).values(retention_days=365))
        uow.commit()
    old = delivery.deliver(pb, org, alice.external_id, io.BytesIO(make_pdf("old")), "Old",
                           "o.pdf").document_id
    clock.advance(days=200)
    binned = delivery.deliver(pb, org, alice.external_id, io.BytesIO(make_pdf("bin")), "Bin",
                              "b.pdf").document_id
    kept = delivery.deliver(pb, org, alice.external_id, io.BytesIO(make_pdf("keep")), "Keep",
                            "k.pdf").document_id
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    reading.delete(pb, vault, binned)
    assert apply_retention(pb).purged == []  # nothing is due yet
    clock.advance(days=31)  # the undo window of the delete is over
    assert apply_retention(pb).purged == [binned]
    clock.advance(days=140)  # the first document is past 365 days
    assert apply_retention(pb).purged == [old]
    vault = auth.unlock(pb, auth.authenticate(pb, alice.email, PIN, alice.otp()).token)
    assert [m.document_id for m in reading.inbox(pb, vault).items] == [kept]
    for gone in (old, binned):
        with pytest.raises(NotFound):
            reading.message(pb, vault, gone)
    assert len(list(pb.store.list("docs/"))) == 1
    with pb.uow() as uow:
        assert uow.session.get(Document, old).sealed_key == b""
        assert [e.event for e in evidence.for_document(uow.session, old)] == [
            "submission_accepted", "consigned"]  # evidence outlives the document
    assert check_storage(pb).ok


@pytest.mark.s3
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_object_lock_refuses_early_erasure(tmp_path: Path, db_url: str, s3_server, s3_bucket,
                                           monkeypatch) -> None:
    for name, value in s3_server.env(s3_bucket).items():
        monkeypatch.setenv(name, value)
    settings = cheap_settings(tmp_path / "i", POSTBOX_DATABASE_URL=db_url,
                              POSTBOX_STORAGE_URL=s3_server.s3_url(
                                  s3_bucket, object_lock_days="1",
                                  object_lock_mode="COMPLIANCE"))
    create_key_files(settings)
    clock = FrozenClock(START)
    pb = build(settings, clock=clock, engine=make_engine(db_url))
    try:
        orgs.create_org(pb, "Acme Bank", "acme")
        person = activate_person(pb, clock, "acme", "C-1", "c@example.org")
        doc = delivery.deliver(pb, "acme", "C-1", io.BytesIO(pdf_bytes("locked")), "L",
                               "l.pdf").document_id
        with pb.uow() as uow:
            uow.session.execute(update(Organisation).values(retention_days=1))
            uow.commit()
        clock.advance(days=3)  # our clock says expired; the S3 server's lock says not yet
        report = apply_retention(pb)
        assert report.retained == [doc] and report.purged == []
        vault = auth.unlock(pb, auth.authenticate(pb, person.email, PIN, person.otp()).token)
        assert reading.read_all(pb, vault, doc)[1].startswith(b"%PDF")  # still intact
        with pb.uow() as uow:
            assert uow.session.scalar(select(func.count()).select_from(Evidence)) >= 2
    finally:
        pb.close()
