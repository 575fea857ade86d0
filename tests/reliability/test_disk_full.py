"""F7: the disk under the instance folder fills up.

How the full disk is made (said in the test id and the seed notes):

- ``tmpfs``: as root, a 16 MiB tmpfs is mounted in the test's temp folder and filled with a
  filler file up to a random number of free bytes: a real ENOSPC from a real filesystem.
- ``rlimit``: without mount rights, the delivery runs in a child process whose RLIMIT_FSIZE is
  below the blob's size (SIGXFSZ ignored): writes past the limit fail with EFBIG, the closest
  honest stand-in for a full disk without privileges. Force it with
  ``POSTBOX_RELIABILITY_DISKFULL=rlimit``.

Expected: the delivery fails with a clear error, no partial (temp) file is left, nothing is
recorded, documents already stored keep opening, and once space is back the same idempotency
key delivers. A second group puts the whole instance (SQLite included) on the full disk.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from postbox import delivery, reading
from postbox.bootstrap import build
from postbox.db import make_engine, migrate
from postbox.errors import PostboxError, StorageProblem
from postbox.instance import create_key_files
from storage.errors import StorageError, StorageFull
from tests.fixtures.postbox import CHEAP_ENV, cheap_settings
from tests.reliability.chaos import databases, repetitions
from tests.reliability.invariants import World
from tests.reliability.rig import (
    blob_keys,
    canary_pdf,
    counts,
    enrol,
    login,
    pending_keys,
    stream,
)

DISK_SIZE = "16m"
WHICH = os.environ.get("POSTBOX_RELIABILITY_DISKFULL", "auto")
DB_FULL_RAW = (
    "a full disk under SQLite surfaces as a raw sqlalchemy.exc.OperationalError ('database or "
    "disk is full'): from delivery's intent commit, from auth.unlock (it writes last_seen_at) "
    "and from reading's _record_retrieval after the whole plaintext was streamed. Fix: "
    "postbox/uow.py UnitOfWork.commit() maps OperationalError with SQLITE_FULL (sqlite3 "
    "errorcode 13) or PostgreSQL SQLSTATE 53100 to a PostboxError (a 'storage-full' kind the "
    "edge answers with 507)"
)
FULL_IS_NOT_UNAVAILABLE = (
    "postbox/delivery.py deliver() wraps every StorageError, StorageFull included, as "
    "StorageProblem('the document store is unavailable', kind 'storage-unavailable'): the edge "
    "cannot answer 507 for a full disk (nor tell a credentials problem, StorageAuthError, from "
    "an outage). Fix: a StorageProblem subclass per cause (e.g. kind 'storage-full') or a "
    "StorageProblem.retryable/kind taken from the StorageError"
)
READS_NEED_WRITES = (
    "with the instance disk full, an unlocked recipient cannot read: reading.read_all streams "
    "the plaintext and then fails in _record_retrieval (evidence insert + first_read_at), and "
    "auth.unlock fails on its last_seen_at update; decide whether a read may complete when its "
    "evidence cannot be written (e.g. queue the evidence, or refuse before streaming with a "
    "clear 507)"
)


def _mount_tmpfs(where: Path) -> bool:
    if WHICH == "rlimit" or os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0700", "tmpfs",
                           str(where)], capture_output=True, timeout=10, check=False)
    if done.returncode != 0 and WHICH == "tmpfs":
        pytest.fail(f"POSTBOX_RELIABILITY_DISKFULL=tmpfs but mount failed: {done.stderr!r}")
    return done.returncode == 0


def _umount(where: Path) -> None:
    if subprocess.run(["umount", str(where)], capture_output=True, timeout=10,
                      check=False).returncode:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=10, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path | None]:
    """A mounted 16 MiB tmpfs, or None when this process may not mount."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if not _mount_tmpfs(disk):
        yield None
        return
    try:
        yield disk
    finally:
        _umount(disk)


def fill(disk: Path, leave: int) -> Path:
    """Fill the filesystem, then give back ``leave`` bytes (rounded to pages by tmpfs)."""
    filler = disk / "filler"
    block = b"\0" * (1 << 20)
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while os.write(fd, block[:size]):
                    pass
            except OSError:
                continue
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.name.startswith(".~tmp-")]


# -- blobs on a full disk ---------------------------------------------------------------------

@pytest.mark.parametrize("run", repetitions(fast=2, full=10))
@pytest.mark.parametrize("db_url", databases(), indirect=True)
def test_f7_full_blob_disk_refuses_clearly_and_reads_keep_working(
        run, chaos, small_disk, tmp_path, db_url, clock, invariants) -> None:
    blobs = (small_disk or tmp_path / "blobs-rlimit") / "blobs"
    settings = cheap_settings(tmp_path / "inst", POSTBOX_DATABASE_URL=db_url,
                              POSTBOX_STORAGE_URL=f"file://{blobs}")
    create_key_files(settings)
    pb = build(settings, clock=clock, engine=make_engine(db_url))
    try:
        cast = enrol(pb, clock)
        person = cast.people[0]
        earlier = []
        for i in range(3):
            pdf, canary = canary_pdf(f"F7-{i}", pages=chaos.rng.randint(1, 20))
            earlier.append((delivery.deliver(pb, cast.org, person.external_id, stream(pdf),
                                             f"S{i}", f"s{i}.pdf").document_id, pdf, canary))
        vault = login(pb, person)
        before = counts(pb)
        key = f"f7-{run}"
        if small_disk is not None:
            big = b"%PDF-1.7\n%" + os.urandom(chaos.rng.randint(300 << 10, 2 << 20))
            leave = chaos.rng.randrange(0, len(big) - 8192)
            chaos.note(f"tmpfs: {len(big)} byte document, {leave} bytes left free")
            filler = fill(small_disk, leave)
            with pytest.raises(StorageProblem) as failed:
                delivery.deliver(pb, cast.org, person.external_id, stream(big), "Big",
                                 "big.pdf", idempotency_key=key)
            assert isinstance(failed.value.__context__, StorageFull), chaos
            assert "no space" in str(failed.value), chaos
        else:
            limit = 8 << 20  # above any SQLite file here, below the blob
            big = b"%PDF-1.7\n%" + os.urandom(limit + chaos.rng.randint(1, 4 << 20))
            chaos.note(f"rlimit: {len(big)} byte document, RLIMIT_FSIZE {limit}")
            outcome = _deliver_in_child(settings, cast.org, person.external_id, big, key,
                                        limit, tmp_path)
            assert outcome["error"] == "StorageProblem", outcome
            assert outcome["context"] in ("StorageFull", "StorageError"), outcome
            filler = None
        assert _temp_files(blobs) == [], f"partial files left {chaos}"
        assert counts(pb) == before and not pending_keys(pb), chaos
        assert set(pb.store.list("docs/")) == blob_keys(pb), chaos
        for doc_id, pdf, _ in earlier:  # the database is elsewhere: reading keeps working
            assert reading.read_all(pb, vault, doc_id)[1] == pdf
        assert reading.inbox(pb, vault).total == 3

        if filler is not None:
            filler.unlink()
        again = delivery.deliver(pb, cast.org, person.external_id, stream(big), "Big",
                                 "big.pdf", idempotency_key=key)
        assert not again.replayed
        assert reading.read_all(pb, vault, again.document_id)[1] == big
        canaries = cast.canaries + [c for *_, c in earlier]
        world = World(pb, folders=[tmp_path], canaries=canaries)
        invariants.assert_holds(world, context=str(chaos))
    finally:
        pb.close()


def _deliver_in_child(settings, org: str, external_id: str, data: bytes, key: str,
                      limit: int, tmp_path: Path) -> dict[str, str]:
    """Deliver ``data`` from a child process limited to ``limit`` bytes per file."""
    doc = tmp_path / "child-document.pdf"
    doc.write_bytes(data)
    env = {**os.environ, **CHEAP_ENV, "POSTBOX_HOME": str(settings.home),
           "POSTBOX_DATABASE_URL": settings.database_url,
           "POSTBOX_STORAGE_URL": settings.storage_url,
           "POSTBOX_MASTER_KEY": settings.master_key_hex or ""}
    job = json.dumps({"org": org, "to": external_id, "file": str(doc), "key": key,
                      "limit": limit})
    done = subprocess.run(
        [sys.executable, "-c", "from tests.reliability.test_disk_full import child; child()",
         job], env=env, capture_output=True, text=True, timeout=120, check=False,
        cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def child() -> None:
    """The child side of the rlimit variant: one delivery under RLIMIT_FSIZE."""
    from postbox.config import load_settings

    job = json.loads(sys.argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (job["limit"], job["limit"]))
    pb = build(load_settings())
    outcome = {"error": "", "context": "", "message": ""}
    try:
        with open(job["file"], "rb") as fh:
            delivery.deliver(pb, job["org"], job["to"], fh, "Big", "big.pdf",
                             idempotency_key=job["key"])
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        context = exc.__context__
        outcome = {"error": type(exc).__name__, "message": str(exc),
                   "context": type(context).__name__ if isinstance(context, StorageError)
                   else ""}
    finally:
        pb.close()
    print(json.dumps(outcome))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_f7_a_full_disk_is_not_reported_as_an_unavailable_store(
        small_disk, tmp_path, db_url, clock) -> None:
    if small_disk is None:
        pytest.skip("needs a real full filesystem (tmpfs as root)")
    settings = cheap_settings(tmp_path / "inst", POSTBOX_DATABASE_URL=db_url,
                              POSTBOX_STORAGE_URL=f"file://{small_disk}/blobs")
    create_key_files(settings)
    pb = build(settings, clock=clock, engine=make_engine(db_url))
    try:
        cast = enrol(pb, clock)
        fill(small_disk, 0)
        with pytest.raises(StorageProblem) as failed:
            delivery.deliver(pb, cast.org, cast.people[0].external_id,
                             stream(b"%PDF-1.7\n%" + os.urandom(100_000)), "S", "s.pdf")
        assert failed.value.kind != "storage-unavailable"
    finally:
        pb.close()


# -- the whole instance (SQLite and blobs) on a full disk --------------------------------------

@pytest.fixture
def full_instance(small_disk, clock):
    """An embedded-default instance (SQLite + FileStore) on the tmpfs, then the disk filled."""
    if small_disk is None:
        pytest.skip("needs a real full filesystem (tmpfs as root); RLIMIT_FSIZE cannot fill "
                    "SQLite's disk honestly")
    settings = cheap_settings(small_disk / "instance")
    create_key_files(settings)
    migrate(settings.database_url)
    pb = build(settings, clock=clock)
    try:
        cast = enrol(pb, clock)
        pdf, _ = canary_pdf("F7-full")
        doc = delivery.deliver(pb, cast.org, cast.people[0].external_id, stream(pdf), "S",
                               "s.pdf")
        vault = login(pb, cast.people[0])
        with pb.engine.connect() as conn:  # so that any further write needs new blocks
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        fill(small_disk, 0)
        yield pb, cast, vault, doc.document_id, pdf
    finally:
        pb.close()


def test_f7_full_instance_folder_refuses_delivery_with_a_clear_error(full_instance) -> None:
    pb, cast, _, _, pdf = full_instance
    with pytest.raises(PostboxError):
        delivery.deliver(pb, cast.org, cast.people[0].external_id, stream(pdf), "T", "t.pdf")


def test_f7_full_instance_folder_still_lets_an_unlocked_recipient_read(full_instance) -> None:
    pb, _, vault, doc_id, pdf = full_instance
    assert reading.read_all(pb, vault, doc_id)[1] == pdf
