"""Postbox export benchmark: time and peak RSS of "Export my postbox" as the postbox grows.

Run: .venv/bin/python bench/export.py [--documents 1000,10000] [--size 20000]
For each count it builds a postbox (SQLite + FileStore in a temporary instance, one recipient,
three senders, documents of --size bytes), then exports it in a FRESH process that logs in,
re-authenticates, and drains the zip into a running hash (as a socket would): that process
prints its peak RSS (VmHWM, so the build's memory does not count), the time and throughput.
Flat memory means the peak barely moves while the count grows tenfold. No assertions.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crypto.totp import code_at
from postbox import activation, auth, delivery, orgs, portability, recipients
from postbox.bootstrap import build
from postbox.clock import FrozenClock
from postbox.config import load_settings
from postbox.db import make_engine, migrate
from postbox.instance import create_key_files

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
CHEAP = {"POSTBOX_ARGON2_MEMORY_KIB": "64", "POSTBOX_ARGON2_ITERATIONS": "1",
         "POSTBOX_ARGON2_LANES": "1"}
PIN = "482917"


def _peak_rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def build_postbox(home: Path, count: int, size: int) -> dict[str, str]:
    env = {"POSTBOX_HOME": str(home), "POSTBOX_MASTER_KEY": secrets.token_hex(32), **CHEAP}
    settings = load_settings(env)
    create_key_files(settings)
    migrate(settings.database_url)
    clock = FrozenClock(START)
    pb = build(settings, clock=clock, engine=make_engine(settings.database_url))
    for name, slug in (("Acme Bank", "acme"), ("City", "city"), ("Tax Office", "tax")):
        orgs.create_org(pb, name, slug)
    inv = recipients.invite_recipient(pb, "acme", "CUST-1", "alice@example.org")
    assert inv.activation_code is not None
    start = activation.begin_activation(pb, inv.activation_code)
    activation.activate(pb, inv.activation_code, PIN, PIN,
                        code_at(start.totp_secret, clock.now().timestamp()))
    for slug in ("city", "tax"):
        recipients.invite_recipient(pb, slug, "CUST-1", "alice@example.org")
    began = time.perf_counter()
    for n in range(count):
        body = b"%PDF-1.4\n" + os.urandom(size)
        delivery.deliver(pb, ("acme", "city", "tax")[n % 3], "CUST-1", io.BytesIO(body),
                         f"Letter {n}", f"letter-{n}.pdf")
        if n % 100 == 0:
            clock.advance(seconds=1)
    print(f"  built {count} documents in {time.perf_counter() - began:.1f} s", flush=True)
    pb.close()
    return {**env, "BENCH_TOTP": start.totp_secret}


def child(env: dict[str, str]) -> None:
    """Log in, re-authenticate, export; print figures as JSON (runs in a fresh process)."""
    settings = load_settings(env)
    clock = FrozenClock(START + timedelta(days=1))
    pb = build(settings, clock=clock, engine=make_engine(settings.database_url))
    secret = env["BENCH_TOTP"]
    token = auth.authenticate(pb, "alice@example.org", PIN,
                              code_at(secret, clock.now().timestamp())).token
    vault = auth.unlock(pb, token)
    clock.advance(seconds=30)
    grant = portability.authorise_export(pb, vault, PIN, code_at(secret, clock.now().timestamp()))
    rss_before = _peak_rss_mib()
    began = time.perf_counter()
    export = portability.export_postbox(pb, grant)
    total, digest = 0, hashlib.sha256()
    for chunk in export:
        total += len(chunk)
        digest.update(chunk)
    elapsed = time.perf_counter() - began
    print(json.dumps({"documents": export.report.documents, "zip_bytes": total,
                      "seconds": elapsed, "peak_before_mib": rss_before,
                      "peak_mib": _peak_rss_mib(), "evidences": export.report.evidence_count}))
    pb.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", default="1000,10000")
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(sys.stdin.read()))
        return
    for count in (int(c) for c in args.documents.split(",")):
        with tempfile.TemporaryDirectory(prefix="postbox-bench-export-") as tmp:
            print(f"{count} documents of {args.size} bytes:", flush=True)
            env = build_postbox(Path(tmp) / "instance", count, args.size)
            out = subprocess.run([sys.executable, __file__, "--child"], input=json.dumps(env),
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"  export: {r['documents']} documents, {r['zip_bytes'] / 2**20:.1f} MiB zip, "
                  f"{r['evidences']} evidences in the bundle, {r['seconds']:.1f} s "
                  f"({r['documents'] / r['seconds']:.0f} documents/s, "
                  f"{r['zip_bytes'] / 2**20 / r['seconds']:.1f} MiB/s)")
            print(f"  peak RSS of the exporting process: {r['peak_mib']:.1f} MiB "
                  f"(after login, before the export: {r['peak_before_mib']:.1f} MiB)",
                  flush=True)


if __name__ == "__main__":
    main()
