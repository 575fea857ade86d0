"""Load bench (issue #11): L1 steady reading under batch arrivals, L3 spike, L4 brute force.

Run: .venv/bin/python bench/load.py [--scenario L1|L3|L4|all] [--duration S] [--quick]
     [--store s3|file] [--database-url URL] [--workers 2 --threads 8] [--argon2-iterations 1]

Sets up its own instance in a temporary folder (SeaweedFS on loopback, or a FileStore; SQLite
or an empty PostgreSQL database), with recipients activated through the services. Argon2 on
the server: 64 MiB, p=2 (production memory and lanes) with --argon2-iterations passes
(default 1; production is 3), at most 4 derivations at once per process (the default cap).
Each scenario gets a fresh gunicorn (loopback only) and first measures the raw baseline:
GET /healthz from 16 clients for 3 s. It prints p50/p95/p99 per operation, statuses, the
5xx count, whether every 429/503 carried Retry-After, and the server's peak RSS (sampled from
/proc). Clients are a bounded set of asyncio tasks (one connection each); every scenario
ends by itself. Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/: bench/storage.py would shadow storage/

from bench.ingest import fresh_database
from bench.loadlib import instance, scenarios
from bench.loadlib.instance import Server
from bench.loadlib.stats import (
    RssSampler,
    baseline,
    ms,
    summarise,
    table,
)

MIB = 1024
FULL = {"L1": 300.0, "L3": 60.0, "L4": 120.0}
QUICK = {"L1": 60.0, "L3": 20.0, "L4": 20.0}


def _rss_now_mib(pids: list[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    found[pid] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return found


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> None:
        self.args, self.tmp, self.env = args, tmp, env
        self.memory_mib = int(env["POSTBOX_ARGON2_MEMORY_KIB"]) / MIB
        self.cap = int(env["POSTBOX_ARGON2_MAX_CONCURRENCY"])
        self.runs = 0

    def server(self, login_limit: str | None = None) -> Server:
        self.runs += 1
        return Server(self.env, self.args.workers, self.args.threads,
                      self.tmp / f"gunicorn-{self.runs}.log", login_limit)

    async def measured(self, server: Server, work):  # type: ignore[no-untyped-def]
        """Baseline, then ``work`` with the server's RSS sampled; returns its result."""
        await baseline(server.url, seconds=1.0)  # warm up both workers' connections
        base = await baseline(server.url)
        idle = _rss_now_mib(server.pids())
        sampler = RssSampler(server.pids)
        sampler.start()
        try:
            result = await work
        finally:
            await sampler.stop()
        print(base.line(16))
        print("server idle RSS after the baseline: "
              + ", ".join(f"{v:.0f}" for v in idle.values()) + " MiB (master, workers)")
        print(sampler.line())
        return result, idle, sampler

    def stop(self, server: Server) -> None:
        server.stop()
        if self.args.log_dir:
            self.args.log_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(server.log, self.args.log_dir / server.log.name)
        errors = server.errors()
        print(f"server log: {sum(int(e.split(' x ')[0]) for e in errors)} ERROR lines"
              + "".join(f"\n  {e}" for e in errors[:8]))

    # --------------------------------------------------------------------- scenarios --
    async def l1(self, people: list[instance.Person], token: str) -> None:
        a = self.args
        seconds = a.duration or (QUICK if a.quick else FULL)["L1"]
        every, size = (30.0, 200) if a.quick else (60.0, 1000)
        folder = self.tmp / "mailing"
        folder.mkdir(exist_ok=True)
        (folder / "doc.pdf").write_bytes(instance.pdf(a.size))
        print(f"\n== L1: {len(people)} recipients, {a.rate:g} req/s in total, {seconds:g} s; "
              f"a {size}-document batch (`postbox batch send --concurrency 4`) every "
              f"{every:g} s; {a.size:,} B PDFs")
        server = self.server()
        try:
            result, _, _ = await self.measured(server, scenarios.l1(
                server.url, people, seconds, a.rate, every, size, folder, token,
                dict(os.environ)))
        finally:
            self.stop(server)
        for line in table(result.recorder):
            print(line)
        s = summarise(result.recorder.samples)
        print(f"visits completed: {result.visits}; 5xx: {s.five_xx}; no answer "
              f"(timeout/error): {s.failures}; 429/503 without Retry-After: "
              f"{s.shed_without_retry_after} of {s.shed}")
        for run in result.batches:
            print(f"batch {run.number}: {run.seconds:.1f} s, {run.attempts} run(s) of the CLI, "
                  f"exit {run.exit_code}: {run.tail}")

    async def l3(self, people: list[instance.Person], probe: instance.Person) -> None:
        a = self.args
        spike = a.duration or (QUICK if a.quick else FULL)["L3"]
        ramp, watch = (5.0, 30.0) if a.quick else (10.0, 60.0)
        print(f"\n== L3: 0 -> {len(people)} users in {ramp:g} s, each logging in then reading "
              f"(inbox, open) with 0.5-1.5 s think time until {spike:g} s; a probe reads its "
              f"inbox every 0.5 s until {watch:g} s after the spike")
        server = self.server()
        try:
            result, _, _ = await self.measured(server, scenarios.l3(
                server.url, people, probe, ramp, spike, watch))
        finally:
            self.stop(server)
        for line in table(result.recorder):
            print(line)
        s = summarise(result.recorder.samples)
        during = summarise(p for p in result.probe if p.at < result.probe[0].at + spike) \
            if result.probe else None
        print(f"5xx: {s.five_xx}; 429/503: {s.shed}, of which without Retry-After: "
              f"{s.shed_without_retry_after}; no answer (timeout/error): {s.failures}; "
              f"peak users with a request in flight: {result.peak_in_flight}")
        if during:
            print(f"probe during the spike: p50 {ms(during.p50)}, p95 {ms(during.p95)}, "
                  f"max {ms(max(p.seconds for p in result.probe))}, statuses {during.statuses}")
        recovered = ("not within the watch" if math.isnan(result.recovery_s)
                     else f"{result.recovery_s:.1f} s")
        print(f"recovery after the spike (probe back under {ms(result.threshold)}, i.e. "
              f"2 x its quiet p95 of {ms(result.before_p95)}, three times in a row): {recovered}")

    async def l4(self, single: str, many: list[str], max_failures: int) -> None:
        a = self.args
        seconds = a.duration or (QUICK if a.quick else FULL)["L4"]
        attackers = 16 if a.quick else 64
        bound = scenarios.lock_bound(max_failures, seconds)
        runs = [("one account", [single], 8 * attackers),
                (f"{len(many)} accounts", many, 2 * max_failures)]
        for name, emails, per_account in runs:
            print(f"\n== L4 {name}: {attackers} clients posting wrong PINs ({per_account} "
                  f"tries per account, account after account) for at most {seconds:g} s; "
                  f"per-address limit raised (a botnet)")
            server = self.server()
            try:
                result, idle, sampler = await self.measured(server, scenarios.storm(
                    name, server.url, emails, attackers, seconds, per_account))
            finally:
                self.stop(server)
            for line in table(result.recorder, result.seconds):
                print(line)
            counted = instance.failed_attempts(self.env, emails)
            values = sorted(v for v in counted.values() if v) or [0]  # the accounts reached
            over = sum(1 for v in values if v > bound)
            locked = sum(1 for v in values if v >= max_failures)
            s = summarise(result.recorder.samples)
            print(f"attempts sent: {s.n} in {result.seconds:.1f} s; reached the PIN check "
                  f"(failures counted per account): total {sum(values)}, max {values[-1]}, "
                  f"median {values[len(values) // 2]} over the {len(values)} accounts reached (of "
                  f"{len(emails)}); locked: {locked}; over the bound of {bound}: {over}")
            print(f"PIN checks/s: {sum(values) / result.seconds:.1f}; 5xx: {s.five_xx}; "
                  f"no answer: {s.failures}; 429/503 without Retry-After: "
                  f"{s.shed_without_retry_after} of {s.shed}")
            workers = sorted(sampler.peak_kib.items())[1:] if len(sampler.peak_kib) > 1 else []
            largest = max((kib for _, kib in sampler.peak_kib.items()), default=0) / MIB
            idle_max = max(list(idle.values())[1:] or [0])
            print(f"largest process peak RSS {largest:.0f} MiB; memory bound per worker: idle "
                  f"{idle_max:.0f} MiB + {self.cap} x {self.memory_mib:.0f} MiB = "
                  f"{idle_max + self.cap * self.memory_mib:.0f} MiB ({len(workers)} processes)")

        print("\n== L4 one client, production per-address limit (10 per minute;100 per hour "
              "per worker process): wrong PINs over 20 accounts not attacked before, 40 attempts")
        server = self.server(login_limit="10 per minute;100 per hour")
        try:
            result, _, _ = await self.measured(server, scenarios.storm(
                "one client", server.url, many[-20:], 1, 30.0, 2))
        finally:
            self.stop(server)
        for line in table(result.recorder, result.seconds):
            print(line)
        s = summarise(result.recorder.samples)
        print(f"429: {s.statuses.get('429', 0)}, of which without Retry-After: "
              f"{s.shed_without_retry_after}")


async def run(args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> None:
    chosen = ["L1", "L3", "L4"] if args.scenario == "all" else [args.scenario]
    started = time.monotonic()
    instance.init(env)
    token = instance.sender_token(env)
    pdf = instance.pdf(args.size)
    bench = Bench(args, tmp, env)
    from postbox.config import load_settings

    max_failures = load_settings(env).login_max_failures
    setup = time.monotonic()
    plan = {"L1": 50, "L3": 50 if args.quick else 200, "L4": 100 if args.quick else 1000}
    l1_people = instance.people(env, "L1", plan["L1"], pdf) if "L1" in chosen else []
    l3_people = instance.people(env, "L3", plan["L3"] + 1, pdf) if "L3" in chosen else []
    cheap = {**env, **instance.CHEAP}
    l4_people = instance.people(cheap, "L4", plan["L4"] + 1, None) \
        if "L4" in chosen else []
    print(f"setup: {len(l1_people) + len(l3_people) + len(l4_people)} recipients activated in "
          f"{time.monotonic() - setup:.0f} s")
    steps = {"L1": lambda: bench.l1(l1_people, token),
             "L3": lambda: bench.l3(l3_people[1:], l3_people[0]),
             "L4": lambda: bench.l4(l4_people[0].email, [p.email for p in l4_people[1:]],
                                    max_failures)}
    for name in chosen:
        try:
            await steps[name]()
        except Exception:  # noqa: BLE001 - report it and go on with the next scenario
            print(f"\n{name} FAILED:\n{traceback.format_exc()}")
    print(f"\nwhole run: {time.monotonic() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=["L1", "L3", "L4", "all"], default="all")
    parser.add_argument("--duration", type=float, help="seconds of L1's run, L3's spike or "
                        "L4's storm (default 300 / 60 / 120; --quick: 60 / 20 / 20)")
    parser.add_argument("--quick", action="store_true", help="small and short: 200-document "
                        "batches every 30 s, 50 spike users, 100 attacked accounts")
    parser.add_argument("--rate", type=float, default=10.0, help="L1 requests/s in total")
    parser.add_argument("--size", type=int, default=200_000, help="bytes per PDF")
    parser.add_argument("--store", choices=["s3", "file"], default="s3")
    parser.add_argument("--database-url", help="a PostgreSQL server (maintenance URL, e.g. "
                        "postgresql://postgres@127.0.0.1/postgres); default: SQLite")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker "
                        "(more than the 4 Argon2 slots, so readers keep threads in a login "
                        "storm)")
    parser.add_argument("--argon2-iterations", type=int, default=1)
    parser.add_argument("--log-dir", type=Path, help="keep the servers' logs here")
    args = parser.parse_args()

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="postbox-load-")))
        env = {**os.environ, "POSTBOX_HOME": str(tmp / "instance"),
               "POSTBOX_MASTER_KEY": secrets.token_hex(32),
               "POSTBOX_ARGON2_MEMORY_KIB": str(64 * 1024),
               "POSTBOX_ARGON2_ITERATIONS": str(args.argon2_iterations),
               "POSTBOX_ARGON2_LANES": "2", "POSTBOX_ARGON2_MAX_CONCURRENCY": "4"}
        env.pop("POSTBOX_DATABASE_URL", None)
        env.pop("POSTBOX_STORAGE_URL", None)
        if args.store == "s3":
            from storage.s3store import S3Store
            from tests.fixtures.seaweed import run_seaweed

            s3 = stack.enter_context(run_seaweed(tmp / "seaweed"))
            bucket = f"load-{secrets.token_hex(3)}"
            S3Store(bucket, endpoint_url=s3.endpoint, region=s3.region,
                    access_key=s3.access_key, secret_key=s3.secret_key).ensure_bucket()
            env.update(s3.env(bucket))
            os.environ.update(s3.env(bucket))  # build() reads the S3 credentials from here
        if args.database_url:
            env["POSTBOX_DATABASE_URL"] = fresh_database(args.database_url, "postbox_load")
        print(f"load bench: gunicorn {args.workers}x{args.threads} on "
              f"{'PostgreSQL' if args.database_url else 'SQLite'}, "
              f"{'SeaweedFS 4.48' if args.store == 's3' else 'FileStore'}; Argon2id 64 MiB, "
              f"t={args.argon2_iterations}, p=2, at most 4 at once per process; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
        asyncio.run(run(args, tmp, env))


if __name__ == "__main__":
    main()
