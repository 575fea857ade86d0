"""Ingest benchmark: documents/s through the sender API against raw S3 puts, plus peak RSS.

Run: .venv/bin/python bench/ingest.py [--n 2000 --n 10000 ...] [--size 100000]
For each N, against one SeaweedFS on loopback (the launcher from tests/fixtures/seaweed.py):
- raw: boto3 ``put_object`` of N objects of --size bytes over 8 threads (the S3Store's own
  client and config), in docs/s;
- api: ``postbox batch send`` (a subprocess) of an N-row manifest of --size-byte PDFs through
  the HTTP API of a gunicorn server (subprocess; --workers x --threads, by default the
  deployment's 2 x 8 from the Dockerfile and docker-compose.yml) on a fresh embedded
  instance (SQLite) storing on the same SeaweedFS: checking every row, reachability, upload,
  sealing, S3, database, evidence, then closing the batch (consigned evidence and a notice job
  per document), in docs/s from start to exit;
- the ratio api/raw (goal >= 0.7), and the peak RSS (VmHWM, sampled from /proc while running)
  of the CLI and of each server process.
Every row names the same file (the server sees a distinct item per row: its own key and
subject), so the manifest costs no disk. Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import io
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHEAP = {"POSTBOX_ARGON2_MEMORY_KIB": "64", "POSTBOX_ARGON2_ITERATIONS": "1",
         "POSTBOX_ARGON2_LANES": "1"}  # setup only: ingest derives no keys
RECIPIENTS = 50
CPU: dict[str, float] = {}
_CHILD_CPU = [0.0]


def cpu_children_delta() -> float:
    """CPU seconds of children reaped since the last call (the CLI just ended)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    delta, _CHILD_CPU[0] = total - _CHILD_CPU[0], total
    return delta


def wsgi_app():  # type: ignore[no-untyped-def]
    """The gunicorn entry point: the app of the instance named by POSTBOX_* (with the API)."""
    from postbox.bootstrap import build
    from postbox.config import load_settings
    from web import create_app
    from web.api import register_api

    pb = build(load_settings())
    app = create_app(pb, {"API_RATE_LIMIT": "1000000 per minute"})
    if "api" not in app.blueprints:
        register_api(app, pb)
    return app


def vm_hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process (and its reaped children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def find_pid(needle: str) -> int | None:
    """The process whose command line holds ``needle`` (the S3 server we started)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle.encode() in (entry / "cmdline").read_bytes():
                    return int(entry.name)
            except OSError:
                continue
    return None


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def raw_puts(client, bucket: str, payload: bytes, n: int) -> float:  # type: ignore[no-untyped-def]
    def put(i: int) -> None:
        client.put_object(Bucket=bucket, Key=f"raw/{i:07d}", Body=payload)

    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(n)))
    return n / (time.perf_counter() - started)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def setup_instance(home: Path, env: dict[str, str], n: int, size: int) -> tuple[str, Path]:
    """A migrated instance with an org, a token and recipients; an N-row manifest."""
    from postbox import orgs, recipients
    from postbox.bootstrap import build
    from postbox.clock import SystemClock
    from postbox.config import load_settings
    from postbox.instance import init_instance

    settings = load_settings(env)
    init_instance(settings, SystemClock().now())
    pb = build(settings)
    try:
        orgs.create_org(pb, "Bench Bank", "bench")
        token = orgs.create_token(pb, "bench", "sender")
        for r in range(RECIPIENTS):
            recipients.invite_recipient(pb, "bench", f"R-{r}", f"r{r}@example.org")
    finally:
        pb.close()
    folder = home / "mailing"
    folder.mkdir()
    (folder / "doc.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(size - 9))
    manifest = folder / "manifest.csv"
    with manifest.open("w") as fh:
        fh.write("recipient,file,subject\n")
        for i in range(n):
            fh.write(f"R-{i % RECIPIENTS},doc.pdf,Statement {i}\n")
    return token, manifest


def start_server(env: dict[str, str], port: int, workers: int, threads: int,
                 log: Path) -> subprocess.Popen[bytes]:
    command = [str(BIN / "gunicorn"), "--workers", str(workers), "--threads", str(threads),
               "--bind", f"127.0.0.1:{port}", "--pythonpath", str(ROOT), "--timeout", "300",
               "--log-level", "warning", "bench.ingest:wsgi_app()"]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {log}") from None
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not start; see {log}")


def run_cli(env: dict[str, str], manifest: Path, url: str, token: str,
            concurrency: int) -> tuple[float, int, str]:
    """Seconds, peak RSS (KiB) and stderr of one ``postbox batch send``."""
    command = [str(BIN / "postbox"), "batch", "send", str(manifest), "--server", url,
               "--token", token, "--concurrency", str(concurrency), "--no-progress"]
    peak = 0
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, vm_hwm_kib(proc.pid))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    elapsed = time.perf_counter() - started
    CPU["cli"] = cpu_children_delta()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"postbox batch send failed ({proc.returncode}):\n{err.decode()}")
    return elapsed, peak, err.decode()


def fresh_database(url: str, name: str) -> str:
    """An empty PostgreSQL database ``name`` on the server of ``url`` (replaced if it exists)."""
    from sqlalchemy import text

    from postbox.db import make_engine

    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return engine.url.set(database=name).render_as_string(hide_password=False)


def one(n: int, size: int, workers: int, threads: int, concurrency: int, tmp: Path,
        server, payload: bytes, database_url: str | None) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from storage.s3store import S3Store

    bucket = f"ingest-{n}-{secrets.token_hex(3)}"
    store = S3Store(bucket, endpoint_url=server.endpoint, region=server.region,
                    access_key=server.access_key, secret_key=server.secret_key)
    store.ensure_bucket()
    store.put("warm/up", io.BytesIO(payload))
    raw = raw_puts(store.client, bucket, payload, n)

    home = tmp / f"inst-{n}"
    env = {**os.environ, **CHEAP, **server.env(bucket), "POSTBOX_HOME": str(home)}
    env.pop("POSTBOX_DATABASE_URL", None)
    if database_url:
        env["POSTBOX_DATABASE_URL"] = fresh_database(database_url, f"postbox_ingest_{n}")
    token, manifest = setup_instance(home, env, n, size)
    cpu_children_delta()
    weed_pid = find_pid(f"-dir={tmp / 'seaweed' / 'data'}")
    weed_before = cpu_seconds(weed_pid) if weed_pid else 0.0
    port = free_port()
    gunicorn = start_server(env, port, workers, threads, tmp / f"gunicorn-{n}.log")
    try:
        elapsed, cli_peak, err = run_cli(env, manifest, f"http://127.0.0.1:{port}", token,
                                         concurrency)
        server_peaks = [vm_hwm_kib(pid) for pid in [gunicorn.pid, *children(gunicorn.pid)]]
        server_cpu = sum(cpu_seconds(pid) for pid in [gunicorn.pid, *children(gunicorn.pid)])
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(timeout=30)
    if "delivered" not in err:
        raise RuntimeError(f"the batch was not delivered:\n{err}")
    weed = cpu_seconds(weed_pid) - weed_before if weed_pid else 0.0
    return {"raw": raw, "api": n / elapsed, "seconds": elapsed, "cli_mib": cli_peak / 1024,
            "cpu_ms_cli": CPU["cli"] * 1000 / n, "cpu_ms_server": server_cpu * 1000 / n,
            "cpu_ms_s3": weed * 1000 / n,
            "server_master_mib": server_peaks[0] / 1024,
            "server_worker_mib": max(server_peaks[1:] or [0]) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="documents (repeatable; "
                        "default 2000)")
    parser.add_argument("--size", type=int, default=100_000, help="bytes per document")
    # The deployment's own settings (Dockerfile, docker-compose.yml): 2 workers x 8 threads
    # (more threads than the 4 Argon2 slots, so readers are served during a login storm).
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--concurrency", type=int, default=8, help="CLI --concurrency")
    parser.add_argument("--database-url", help="a PostgreSQL server (maintenance URL, e.g. "
                        "postgresql://postgres@127.0.0.1/postgres); default: SQLite")
    args = parser.parse_args()
    sizes = args.n or [2000]
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.seaweed import run_seaweed

    payload = os.urandom(args.size)
    results = {}
    with tempfile.TemporaryDirectory(prefix="postbox-ingest-") as name, \
            run_seaweed(Path(name) / "seaweed") as server:
        for n in sizes:
            results[n] = one(n, args.size, args.workers, args.threads, args.concurrency,
                             Path(name), server, payload, args.database_url)
    print(f"ingest bench: {args.size:,} B documents; SeaweedFS 4.48 `weed mini` on 127.0.0.1; "
          f"gunicorn {args.workers}x{args.threads} on "
          f"{'PostgreSQL' if args.database_url else 'SQLite'}; CLI --concurrency "
          f"{args.concurrency}; {os.cpu_count()} CPUs")
    print(f"{'N':>8}{'raw put/s':>11}{'api docs/s':>12}{'ratio':>7}{'api s':>8}"
          f"{'CLI MiB':>9}{'srv master':>11}{'srv worker':>11}")
    for n, r in results.items():
        print(f"{n:>8}{r['raw']:>11.0f}{r['api']:>12.0f}{r['api'] / r['raw']:>7.2f}"
              f"{r['seconds']:>8.1f}{r['cli_mib']:>9.0f}{r['server_master_mib']:>11.0f}"
              f"{r['server_worker_mib']:>11.0f}")
    print("CPU ms per document: " + "; ".join(
        f"N={n}: CLI {r['cpu_ms_cli']:.1f}, server {r['cpu_ms_server']:.1f}, S3 server "
        f"{r['cpu_ms_s3']:.1f}" for n, r in results.items()))


if __name__ == "__main__":
    main()
