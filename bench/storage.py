"""Storage benchmark: puts/s of 100 KB blobs through FileStore and S3Store, beside raw baselines.

Run: .venv/bin/python bench/storage.py [--n 200] [--repeat 5] [--size 100000]
Starts its own SeaweedFS (the launcher from tests/fixtures/seaweed.py) on loopback and
measures, at 1 and 8 threads:
- raw boto3 put_object of the same bytes (same client config) vs S3Store.put, which adds key
  validation, the SHA-256, the spool, Content-MD5 and the sha256 metadata;
- raw write + fsync of a new file vs FileStore.put, which adds the SHA-256, a temp file,
  the rename and the directory fsync.
Each figure is the median of --repeat runs of --n puts; raw and store runs alternate, so a
server hiccup hits both alike. Ratios: against the store's own raw baseline, and against raw
boto3 at the same thread count. Prints figures and ratios; asserts nothing.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# The repository root must come first: this file's own directory holds bench/storage.py,
# which would shadow the storage package, and tests.fixtures is not installed.
ROOT = Path(__file__).resolve().parents[1]
THREADS = (1, 8)


def run_once(put: Callable[[str], None], keys: list[str], threads: int) -> float:
    """Puts/s for one run of keys over `threads` threads."""
    started = time.perf_counter()
    if threads == 1:
        for key in keys:
            put(key)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(put, keys))
    return len(keys) / (time.perf_counter() - started)


def compare(raw: Callable[[str], None], ours: Callable[[str], None], n: int, threads: int,
            repeat: int) -> tuple[float, float]:
    """Median puts/s of raw and of ours over `repeat` alternating runs."""
    rates: dict[str, list[float]] = {"raw": [], "ours": []}
    for run in range(repeat):
        for tag, put in (("raw", raw), ("ours", ours)):
            keys = [f"bench/{tag}/{threads}/{run}/{i:06d}" for i in range(n)]
            rates[tag].append(run_once(put, keys, threads))
    return statistics.median(rates["raw"]), statistics.median(rates["ours"])


def raw_file_put(root: Path, payload: bytes) -> Callable[[str], None]:
    def put(key: str) -> None:
        path = root.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
    return put


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="puts per run (default 200)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per cell (default 5)")
    parser.add_argument("--size", type=int, default=100_000, help="bytes per blob")
    args = parser.parse_args()
    payload = os.urandom(args.size)
    sys.path.insert(0, str(ROOT))
    from storage import FileStore
    from storage.s3store import S3Store
    from tests.fixtures.seaweed import run_seaweed

    with tempfile.TemporaryDirectory(prefix="postbox-bench-") as tmp, \
            run_seaweed(Path(tmp) / "seaweed") as server:
        store = S3Store("bench", endpoint_url=server.endpoint, region=server.region,
                        access_key=server.access_key, secret_key=server.secret_key)
        store.ensure_bucket()
        client = store.client  # raw boto3: the same client and config, no store in between
        files = FileStore(Path(tmp) / "blobs")
        store.put("warm/up", io.BytesIO(payload))  # the first write to a bucket grows volumes

        def raw_s3(key: str) -> None:
            client.put_object(Bucket="bench", Key=key, Body=payload)

        def s3_store(key: str) -> None:
            store.put(key, io.BytesIO(payload))

        def file_store(key: str) -> None:
            files.put(key, io.BytesIO(payload))

        pairs = [
            ("raw boto3 put_object", "S3Store.put", raw_s3, s3_store),
            ("raw write+fsync", "FileStore.put",
             raw_file_put(Path(tmp) / "raw", payload), file_store),
        ]
        rates: dict[tuple[str, int], float] = {}
        for raw_name, store_name, raw, ours in pairs:
            for threads in THREADS:
                rates[raw_name, threads], rates[store_name, threads] = compare(
                    raw, ours, args.n, threads, args.repeat)

    print(f"storage bench: {args.size:,} B blobs, median of {args.repeat} x {args.n} puts per "
          f"cell; SeaweedFS 4.48 `weed mini` on 127.0.0.1; {os.cpu_count()} CPUs")
    print(f"{'what':<22}{'threads':>8}{'puts/s':>9}{'MB/s':>8}{'x own raw':>11}{'x boto3':>9}")
    own_raw = {"S3Store.put": "raw boto3 put_object", "FileStore.put": "raw write+fsync"}
    for name in ("raw boto3 put_object", "S3Store.put", "raw write+fsync", "FileStore.put"):
        for threads in THREADS:
            value = rates[name, threads]
            vs_raw = f"{value / rates[own_raw[name], threads]:.2f}" if name in own_raw else ""
            vs_boto3 = value / rates["raw boto3 put_object", threads]
            print(f"{name:<22}{threads:>8}{value:>9.0f}{value * args.size / 1e6:>8.1f}"
                  f"{vs_raw:>11}{vs_boto3:>9.2f}")

if __name__ == "__main__":
    main()
