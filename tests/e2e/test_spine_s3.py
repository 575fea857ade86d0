"""Issue 3 acceptance, end to end on both databases and the loopback S3 server (SeaweedFS):
invite -> activate -> authenticate (real pyotp) -> deliver a PDF -> inbox -> open.
The stored object is read back with an independent client (minio) and must not contain the
plaintext, the subject or the file name."""
from __future__ import annotations

import io
from pathlib import Path

import pyotp
import pytest
from minio import Minio

from postbox import activation, auth, delivery, orgs, reading, recipients
from postbox.bootstrap import build
from postbox.clock import FrozenClock
from postbox.db import make_engine
from postbox.instance import create_key_files
from tests.fixtures.postbox import START, cheap_settings, pdf_bytes

pytestmark = pytest.mark.s3


def test_spine_on_s3(tmp_path: Path, db_url: str, s3_server, s3_bucket, monkeypatch) -> None:
    for name, value in s3_server.env(s3_bucket).items():
        monkeypatch.setenv(name, value)
    settings = cheap_settings(tmp_path / "inst", POSTBOX_DATABASE_URL=db_url,
                              POSTBOX_STORAGE_URL=s3_server.s3_url(s3_bucket))
    create_key_files(settings)
    clock = FrozenClock(START)
    pb = build(settings, clock=clock, engine=make_engine(db_url))
    try:
        orgs.create_org(pb, "Acme Bank", "acme")
        code = recipients.invite_recipient(pb, "acme", "CUST-9", "nine@example.org")\
            .activation_code
        start = activation.begin_activation(pb, code)
        totp = pyotp.TOTP(start.totp_secret)
        activation.activate(pb, code, "582947", "582947", totp.at(clock.now()))

        pdf = pdf_bytes("CANARY-BODY-4471", pages=3)
        receipt = delivery.deliver(pb, "acme", "CUST-9", io.BytesIO(pdf), "CANARY-SUBJ-1180",
                                   "CANARY-FILE-7702.pdf")
        clock.advance(seconds=30)
        token = auth.authenticate(pb, "nine@example.org", "582947", totp.at(clock.now())).token
        vault = auth.unlock(pb, token)
        [item] = reading.inbox(pb, vault).items
        assert (item.subject, item.filename) == ("CANARY-SUBJ-1180", "CANARY-FILE-7702.pdf")
        assert reading.read_all(pb, vault, receipt.document_id)[1] == pdf
    finally:
        pb.close()

    second = Minio(s3_server.endpoint.split("//", 1)[1], access_key=s3_server.access_key,
                   secret_key=s3_server.secret_key, secure=False, region=s3_server.region)
    keys = [o.object_name for o in second.list_objects(s3_bucket, prefix="docs/",
                                                       recursive=True)]
    assert len(keys) == 1
    stored = second.get_object(s3_bucket, keys[0]).read()
    assert b"CANARY-BODY-4471" in pdf  # control: the canary is visible in the plaintext
    for needle in (b"CANARY-BODY-4471", b"CANARY-SUBJ-1180", b"CANARY-FILE-7702", b"%PDF"):
        assert needle not in stored
