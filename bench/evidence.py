"""Evidence log benchmark: appends, proofs at 10^6 leaves, export memory, offline verify.

Run: .venv/bin/python bench/evidence.py [--evidences 100000] [--leaves 1000000]
                                        [--db-url postgresql://...] [--jobs 2]
Prints:
- evidences appended per second: ``evidence.record`` + commit (signing, chain head, insert),
  and the sequencer (leaf hashes, stored hashes, tiles, ``leaf_index`` updates);
- inclusion- and consistency-proof time at --leaves leaves (tiles in the database; a fresh
  session and tile cache per proof, as the API serves them);
- proof bundle export of --evidences evidences: time, size and peak RSS of the exporting
  process (VmHWM of a fresh process), with a 10x smaller export for comparison;
- offline verify time of that bundle with --jobs processes (goal: 100,000 in <= 10 s on 2 cores).
No assertions: figures only (see bench/README.md).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

from crypto.keys import RecipientKeyPair  # noqa: E402
from crypto.merkle import record_hash  # noqa: E402
from crypto.note import cosign, generate_cosigner  # noqa: E402
from crypto.signing import countersign_retrieval, sign_evidence  # noqa: E402
from postbox import checkpoints, cosignatures, evidence, log, tilestore  # noqa: E402
from postbox.bootstrap import Postbox, build  # noqa: E402
from postbox.clock import FrozenClock  # noqa: E402
from postbox.config import load_settings  # noqa: E402
from postbox.db import migrate  # noqa: E402
from postbox.instance import create_key_files  # noqa: E402
from postbox.models import (  # noqa: E402
    Evidence,
    LogState,
    LogTile,
    Organisation,
    Recipient,
    new_id,
)

START = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
CHEAP = {"POSTBOX_ARGON2_MEMORY_KIB": "64", "POSTBOX_ARGON2_ITERATIONS": "1",
         "POSTBOX_ARGON2_LANES": "1"}
EVENTS = ("submission_accepted", "consigned", "notified", "retrieved")


def env_for(home: Path, db_url: str, master: str) -> dict[str, str]:
    return {"POSTBOX_HOME": str(home), "POSTBOX_DATABASE_URL": db_url,
            "POSTBOX_MASTER_KEY": master, **CHEAP}


def instance(home: Path, db_url: str | None, master: str) -> tuple[Postbox, dict[str, str]]:
    home.mkdir(parents=True, exist_ok=True)
    url = db_url or f"sqlite:///{home / 'bench.sqlite3'}"
    env = env_for(home, url, master)
    settings = load_settings(env)
    create_key_files(settings)
    migrate(url)
    return build(settings, clock=FrozenClock(START)), env


def peak_rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# -- 1. appends -----------------------------------------------------------------------------

def bench_append(pb: Postbox, n: int) -> tuple[float, float]:
    subjects = [evidence.Subject(new_id(), new_id(), new_id(), "ab" * 32, "cd" * 32)
                for _ in range(n // 4)]
    started = time.perf_counter()
    for i in range(0, len(subjects), 25):  # a transaction per 25 documents x 4 events
        with pb.uow() as uow:
            for subject in subjects[i:i + 25]:
                for event in EVENTS:
                    evidence.record(uow.session, pb.keys, event, subject, pb.clock.now())
            uow.commit()
    recorded = 4 * len(subjects) / (time.perf_counter() - started)
    started = time.perf_counter()
    sequenced = log.sequence_pending(pb)
    return recorded, sequenced / (time.perf_counter() - started)


# -- 2. proofs at 10^6 leaves ---------------------------------------------------------------

def build_tree(pb: Postbox, leaves: int) -> float:
    """A tree of synthetic leaves written straight to the tiles (no evidence rows)."""
    started = time.perf_counter()
    tiles: dict[tuple[int, int], bytes] = {}
    size = 0
    step = 50_000
    root = b""
    while size < leaves:
        count = min(step, leaves - size)
        batch = [record_hash(i.to_bytes(8, "big")) for i in range(size, size + count)]
        reader = tilestore.TileReader(lambda keys: {k: tiles[k] for k in keys if k in tiles})
        new, root = tilestore.append_leaves(reader, size, batch)
        tiles.update(new)
        size += count
    with pb.uow() as uow:
        uow.session.execute(insert(LogTile), [{"level": lv, "idx": ix, "data": d}
                                              for (lv, ix), d in tiles.items()])
        state = uow.session.get(LogState, 1)
        state.size, state.root = size, root
        uow.commit()
    return time.perf_counter() - started


def bench_proofs(pb: Postbox, leaves: int, samples: int = 200) -> tuple[float, float, float]:
    rng = random.Random(1)
    times = []
    for _ in range(samples):
        n = rng.randrange(leaves)
        started = time.perf_counter()
        log.inclusion_proof(pb, n, leaves)
        times.append(time.perf_counter() - started)
    consistency = []
    for _ in range(samples // 4):
        m = rng.randrange(1, leaves)
        started = time.perf_counter()
        log.consistency_proof(pb, m, leaves)
        consistency.append(time.perf_counter() - started)
    return (statistics.median(times) * 1e3, sorted(times)[int(0.99 * len(times))] * 1e3,
            statistics.median(consistency) * 1e3)


# -- 3. a corpus of real evidence, exported and verified ------------------------------------

def make_corpus(pb: Postbox, n: int, recipients: int = 1000) -> float:
    """n signed evidences: n/4 documents x (submitted, consigned, notified, retrieved), the
    retrieval countersigned by one of ``recipients`` recipients; then sequenced."""
    started = time.perf_counter()
    org = new_id()
    keys = [RecipientKeyPair.generate() for _ in range(recipients)]
    rids = [new_id() for _ in keys]
    seed = pb.keys.evidence_key.seed  # type: ignore[union-attr]
    key_id = pb.keys.evidence_key.key_id  # type: ignore[union-attr]
    with pb.uow() as uow:
        uow.session.add(Organisation(id=org, slug="bench", name="Bench Org", created_at=START))
        uow.session.flush()
        uow.session.execute(insert(Recipient), [
            {"id": rid, "email": f"r{i}@example.org", "state": "active",
             "x25519_public": k.public().x25519, "ed25519_public": k.public().ed25519,
             "created_at": START} for i, (rid, k) in enumerate(zip(rids, keys))])
        uow.commit()
    rows = []
    at = START
    for d in range(n // 4):
        doc, r = new_id(), d % recipients
        prev = None
        for event in EVENTS:
            at += timedelta(milliseconds=1)
            body_obj = {"v": evidence.FORMAT, "id": new_id(), "event": event,
                        "etsi": evidence.ETSI_NAMES[event], "time": evidence.utc_stamp(at),
                        "sender_org": org, "recipient": rids[r], "document": doc,
                        "ciphertext_sha256": hashlib.sha256(doc.encode()).hexdigest(),
                        "commitment": hashlib.sha256(doc.encode() + b"c").hexdigest(),
                        "auth": {"methods": ["pin", "totp"], "totp_step": 1}
                        if event == "retrieved" else None,
                        "prev": prev, "key_id": key_id}
            body, sig = sign_evidence(body_obj, seed)
            record = hashlib.sha256(body).hexdigest()
            rows.append({"id": body_obj["id"], "document_id": doc, "recipient_id": rids[r],
                         "org_id": org, "event": event, "created_at": at, "body": body,
                         "signature": sig, "key_id": key_id, "prev_hash": prev,
                         "record_hash": record,
                         "countersignature": countersign_retrieval(body, keys[r].ed25519)
                         if event == "retrieved" else None})
            prev = record
        if len(rows) >= 20_000:
            _flush(pb, rows)
    _flush(pb, rows)
    log.sequence_pending(pb, wait=True)
    return time.perf_counter() - started


def _flush(pb: Postbox, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    with pb.uow() as uow:
        uow.session.execute(insert(Evidence), rows)
        uow.commit()
    rows.clear()


def cosign_latest(pb: Postbox) -> None:
    signer, verifier = generate_cosigner("bench-witness")
    cosignatures.add_witness(pb, verifier)
    signed = checkpoints.sign_checkpoint(pb)
    body = signed.note.decode().split("\n\n")[0] + "\n"
    cosignatures.add_cosignatures(pb, (body + "\n" + cosign(body, signer, 1_800_000_000))
                                 .encode())


def child_export(env: dict[str, str], out: str, until_ms: int) -> None:
    """In a fresh process: export the evidence before START + until_ms; report time, RSS."""
    from postbox.proofs import export

    pb = build(load_settings(env), clock=FrozenClock(START + timedelta(days=1)))
    sel = export.select_evidence(pb, since=START, until=START + timedelta(milliseconds=until_ms))
    before = peak_rss_mib()
    started, cpu = time.perf_counter(), time.process_time()
    with open(out, "wb") as fh:
        report = export.export_bundle(pb, sel, fh)
    print(f"{report.evidence_count} {time.perf_counter() - started:.2f} {before:.1f} "
          f"{peak_rss_mib():.1f} {time.process_time() - cpu:.2f}")


def run_export(env: dict[str, str], out: Path, until_ms: int
               ) -> tuple[int, float, float, float, float]:
    done = subprocess.run([sys.executable, __file__, "--child-export", out.as_posix(),
                           str(until_ms)], env={**os.environ, **env}, capture_output=True,
                          text=True, check=True)
    count, seconds, before, peak, cpu = done.stdout.split()
    return int(count), float(seconds), float(before), float(peak), float(cpu)


def run_verify(bundle: Path, jobs: int) -> tuple[float, float, str]:
    """Wall time and CPU time (the command and its worker processes) of a CLI verify."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cli.main", "proofs", "verify", str(bundle),
                           "--jobs", str(jobs)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu, done.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evidences", type=int, default=100_000)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--appends", type=int, default=4_000)
    parser.add_argument("--db-url", help="PostgreSQL URL of an empty database (default SQLite)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--child-export", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_export:
        child_export(dict(os.environ), args.child_export[0], int(args.child_export[1]))
        return
    master = secrets.token_hex(32)
    with tempfile.TemporaryDirectory(prefix="bench-evidence-") as tmp:
        root = Path(tmp)
        engine = "PostgreSQL" if args.db_url else "SQLite"
        print(f"database: {engine}; cores: {os.cpu_count()}")

        pb, _ = instance(root / "append", args.db_url, master)
        recorded, sequenced = bench_append(pb, args.appends)
        pb.close()
        print(f"evidence.record + commit:           {recorded:9.0f} evidences/s")
        print(f"sequencer (leaves, tiles, indexes): {sequenced:9.0f} evidences/s")

        if args.db_url is None:  # one fresh database per part
            pb, _ = instance(root / "tree", None, master)
            built = build_tree(pb, args.leaves)
            median, p99, consistency = bench_proofs(pb, args.leaves)
            with pb.uow() as uow:
                tiles = uow.session.query(LogTile).count()
            pb.close()
            print(f"tree of {args.leaves:,} leaves built in {built:.1f} s ({tiles:,} tiles)")
            print(f"inclusion proof at {args.leaves:,} leaves: median {median:.2f} ms, "
                  f"p99 {p99:.2f} ms (fresh session and tile cache each)")
            print(f"consistency proof at {args.leaves:,} leaves: median {consistency:.2f} ms")

        pb, env = instance(root / "corpus", None if args.db_url is None else args.db_url,
                           master)
        if args.db_url:
            with pb.uow() as uow:  # the append part used the same database: start over
                uow.session.query(Evidence).delete()
                uow.session.query(LogTile).delete()
                state = uow.session.get(LogState, 1)
                state.size, state.root = 0, hashlib.sha256(b"").digest()
                uow.commit()
        made = make_corpus(pb, args.evidences)
        cosign_latest(pb)
        pb.close()
        print(f"corpus of {args.evidences:,} signed evidences made and sequenced in "
              f"{made:.1f} s")
        small, big = root / "small.zip", root / "big.zip"
        count_b = 0
        for path, until in ((small, args.evidences // 10), (big, args.evidences + 10)):
            count, secs, base, peak, cpu = run_export(env, path, until)
            count_b = count
            print(f"export {count:>7,} evidences: {secs:6.2f} s ({cpu:.2f} s CPU), "
                  f"{path.stat().st_size / 2**20:6.1f} MiB zip, peak RSS {peak:.0f} MiB "
                  f"(the same process before the export: {base:.0f} MiB)")
        for jobs in sorted({1, args.jobs}):
            seconds, cpu, last = run_verify(big, jobs)
            print(f"offline verify {count_b:,} evidences, {jobs} worker(s): {seconds:6.2f} s "
                  f"wall, {cpu:6.2f} s CPU  [{last}]")
        load = os.getloadavg()
        print(f"load average during the run: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
              f"(other processes on this machine compete for the {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
