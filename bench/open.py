"""Open benchmark: authenticated opens of a 1 MiB document through the portal vs raw S3 GETs.

Run: .venv/bin/python bench/open.py [--requests 320] [--size 1048576] [--database-url URL]

Starts its own SeaweedFS (the launcher from tests/fixtures/seaweed.py) and the portal in a
separate process (`postbox serve`'s app on werkzeug's threaded server: gunicorn is not
installed here, so this is ONE process with a thread per request, not 2 workers). 32
recipients each get one 1 MiB PDF and log in once (cheap Argon2: logins are not what is
measured). Then, at 1, 8 and 32 concurrent clients, each client repeatedly GETs
/messages/<its document>/content (unlock the vault, read the blob from S3, decrypt, stream,
record signed + countersigned `retrieved` evidence) and, as the baseline, the same object's
ciphertext through boto3 get_object with the same concurrency. Prints p50 / p99 of both, the
ratio, and the goal (p99 <= 1.5 x raw p99 + 10 ms). Asserts nothing.

Metadata goes to a throwaway database on the PostgreSQL server at 127.0.0.1:5432 when one
answers (the scale-out setting), else to SQLite; --database-url picks another.
"""
from __future__ import annotations

import argparse
import io
import logging
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

# The repository root must come first: bench/storage.py would shadow the storage package.
ROOT = Path(__file__).resolve().parents[1]
LEVELS = (1, 8, 32)
PIN = "482917"
CHEAP_ARGON2 = {"POSTBOX_ARGON2_MEMORY_KIB": "1024", "POSTBOX_ARGON2_ITERATIONS": "1",
                "POSTBOX_ARGON2_LANES": "1"}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class _LoopbackSession(requests.Session):
    """Browsers send Secure cookies to http://127.0.0.1 (a secure context); requests keeps
    them for https only, so clear the flag after every response."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = super().request(*args, **kwargs)
        for cookie in self.cookies:
            cookie.secure = False
        return response


def serve_child() -> None:
    """The server process: the portal app on a free port; prints its URL, then serves."""
    sys.path.insert(0, str(ROOT))
    from werkzeug.serving import make_server

    from postbox.bootstrap import build
    from postbox.config import load_settings
    from web import create_app

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("postbox.web").setLevel(logging.ERROR)
    app = create_app(build(load_settings()), {"PORTAL_LOGIN_LIMIT": "100000 per minute"})
    size = int(os.environ["BENCH_SIZE"])
    filler = os.urandom(64 * 1024)

    @app.get("/__bench__/bytes")
    def http_floor() -> Any:
        """The same number of bytes through the same server, with no auth, store or crypto."""
        pieces = [filler] * (size // len(filler)) + [filler[: size % len(filler)]]
        return app.response_class(iter(pieces), mimetype="application/pdf")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def run_level(fetch: Callable[[int], None], clients: int, total: int) -> list[float]:
    """Latencies (s) of `total` calls spread over `clients` threads; client i calls fetch(i)."""
    per_client = max(1, total // clients)
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        mine = []
        for _ in range(per_client):
            started = time.perf_counter()
            fetch(i)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=320, help="requests per level")
    parser.add_argument("--size", type=int, default=1024 * 1024, help="document bytes")
    parser.add_argument("--database-url", default=None,
                        help="metadata database (default: a throwaway PostgreSQL database on "
                             "127.0.0.1:5432 if it answers, else SQLite)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_child()
        return
    sys.path.insert(0, str(ROOT))
    from crypto.totp import code_at
    from postbox import activation, delivery, orgs, recipients
    from postbox.bootstrap import build
    from postbox.config import load_settings
    from postbox.instance import init_instance
    from postbox.models import Document
    from storage.s3store import S3Store
    from tests.fixtures.seaweed import run_seaweed

    with tempfile.TemporaryDirectory(prefix="bench-open-") as tmp, \
            run_seaweed(Path(tmp) / "seaweed") as s3, \
            _database(args.database_url, Path(tmp)) as database_url:
        bucket = f"bench-open-{secrets.token_hex(4)}"
        S3Store(bucket, endpoint_url=s3.endpoint, region=s3.region, access_key=s3.access_key,
                secret_key=s3.secret_key).ensure_bucket()
        home = Path(tmp) / "instance"
        env = {**os.environ, **s3.env(bucket), **CHEAP_ARGON2, "POSTBOX_HOME": str(home),
               "POSTBOX_MASTER_KEY": secrets.token_hex(32)}
        env["POSTBOX_DATABASE_URL"] = database_url
        print(f"metadata: {database_url.split('://')[0]}, blobs: SeaweedFS S3 on loopback")
        os.environ.update(env)  # build() reads the S3 credentials from the environment
        settings = load_settings(env)
        init_instance(settings, datetime.now(UTC))
        pb = build(settings)

        clients = max(LEVELS)
        print(f"setting up {clients} recipients with one {args.size} byte document each ...")
        orgs.create_org(pb, "Bench Bank", "bench")
        payload = b"%PDF-1.4\n" + os.urandom(args.size - 9)
        people: list[tuple[str, str, str]] = []  # (email, totp secret, document id)
        for i in range(clients):
            email = f"reader{i}@example.org"
            code = recipients.invite_recipient(pb, "bench", f"R-{i}", email).activation_code
            start = activation.begin_activation(pb, code)
            # A code from the previous step (inside the window), so the login code is newer.
            activation.activate(pb, code, PIN, PIN, code_at(start.totp_secret, time.time() - 30))
            receipt = delivery.deliver(pb, "bench", f"R-{i}", io.BytesIO(payload), "Bench",
                                       "bench.pdf")
            people.append((email, start.totp_secret, receipt.document_id))
        with pb.uow() as uow:
            keys = {d.id: d.blob_key for d in uow.session.query(Document)}
        blob_keys = [keys[doc] for _, _, doc in people]

        child = subprocess.Popen([sys.executable, __file__, "--serve"],
                                 env={**env, "BENCH_SIZE": str(args.size)},
                                 stdout=subprocess.PIPE, text=True)
        try:
            base = (child.stdout.readline() if child.stdout else "").strip()
            if not base.startswith("http://"):
                raise SystemExit("the portal did not start")
            sessions = []
            for email, secret, _ in people:
                http = _LoopbackSession()
                token = _CSRF.search(http.get(f"{base}/login").text).group(1)  # type: ignore
                done = http.post(f"{base}/login", allow_redirects=False, data={
                    "csrf_token": token, "identifier": email, "pin": PIN,
                    "otp": code_at(secret, time.time())})
                if done.headers.get("Location") != "/inbox":
                    raise SystemExit(f"login failed for {email}: {done.status_code}")
                sessions.append(http)

            def download(http: requests.Session, url: str) -> None:
                with http.get(url, stream=True) as response:
                    got = sum(len(piece) for piece in response.iter_content(1 << 16))
                if response.status_code != 200 or got != args.size:
                    raise RuntimeError(f"{url}: {response.status_code}, {got} bytes")

            def portal(i: int) -> None:
                download(sessions[i], f"{base}/messages/{people[i][2]}/content")

            def floor(i: int) -> None:
                download(sessions[i], f"{base}/__bench__/bytes")

            raw = _raw_boto3(s3, bucket, blob_keys)
            for fetch in (raw, floor, portal):  # warm up connections and caches
                run_level(fetch, 4, 8)
            rows = []
            for level in LEVELS:
                rows.append((level, *(percentiles(run_level(fetch, level, args.requests))
                                      for fetch in (raw, floor, portal))))
        finally:
            child.terminate()
            child.wait(timeout=10)

    print(f"\nauthenticated open of a {args.size} byte document, {args.requests} requests "
          f"per level; server: 1 werkzeug process, threaded")
    print("raw = boto3 get_object of the ciphertext; http = the same bytes from the same "
          "server without auth, store or crypto; open = GET /messages/<id>/content")
    print(f"{'clients':>7}  {'raw p50':>8} {'raw p99':>8}  {'http p50':>8} {'http p99':>8}  "
          f"{'open p50':>8} {'open p99':>8}  {'p99/raw':>7}  goal p99 <= 1.5 x raw + 10 ms")
    for level, (raw50, raw99), (http50, http99), (ours50, ours99) in rows:
        goal = 1.5 * raw99 + 0.010
        print(f"{level:>7}  {raw50 * 1e3:6.1f}ms {raw99 * 1e3:6.1f}ms  {http50 * 1e3:6.1f}ms "
              f"{http99 * 1e3:6.1f}ms  {ours50 * 1e3:6.1f}ms {ours99 * 1e3:6.1f}ms  "
              f"{ours99 / raw99:7.2f}  {'met' if ours99 <= goal else 'NOT met'} "
              f"({goal * 1e3:.1f} ms)")


@contextmanager
def _database(url: str | None, tmp: Path) -> Iterator[str]:
    if url:
        yield url
        return
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from postbox.db import make_engine

    server = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    admin = make_engine(server, isolation_level="AUTOCOMMIT",
                        connect_args={"connect_timeout": 2})
    name = f"bench_open_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError:
        admin.dispose()
        yield f"sqlite:///{tmp / 'bench.sqlite3'}"
        return
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _raw_boto3(s3: Any, bucket: str, blob_keys: list[str]) -> Callable[[int], None]:
    """Plain boto3 get_object of the same objects, configured as RECIPES.md says."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3", endpoint_url=s3.endpoint, region_name=s3.region,
        aws_access_key_id=s3.access_key, aws_secret_access_key=s3.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"mode": "standard"}, max_pool_connections=64))

    def fetch(i: int) -> None:
        body = client.get_object(Bucket=bucket, Key=blob_keys[i])["Body"]
        while body.read(1 << 16):
            pass

    return fetch


if __name__ == "__main__":
    main()
