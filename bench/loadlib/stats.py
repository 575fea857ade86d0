"""Figures of a run: latency percentiles, status counts, Retry-After coverage, server RSS
sampled from /proc, and the raw baseline (GET /healthz through the same client)."""
from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import httpx

from bench.loadlib.client import Recorder, Sample

SHED = ("429", "503")


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value * 1000:.0f} ms"


@dataclass(frozen=True)
class Summary:
    n: int
    p50: float
    p95: float
    p99: float
    statuses: dict[str, int]
    five_xx: int
    shed: int
    shed_without_retry_after: int
    failures: int  # timeouts and connection errors: the client saw no answer


def summarise(samples: Iterable[Sample]) -> Summary:
    samples = list(samples)
    counts: dict[str, int] = {}
    for s in samples:
        counts[s.status] = counts.get(s.status, 0) + 1
    seconds = [s.seconds for s in samples]
    return Summary(
        n=len(samples), p50=pct(seconds, 50), p95=pct(seconds, 95), p99=pct(seconds, 99),
        statuses=dict(sorted(counts.items())),
        five_xx=sum(n for st, n in counts.items() if st.startswith("5")),
        shed=sum(n for st, n in counts.items() if st in SHED),
        shed_without_retry_after=sum(1 for s in samples if s.status in SHED
                                     and not s.retry_after),
        failures=sum(n for st, n in counts.items() if st == "timeout" or st.startswith("error")))


def by_op(recorder: Recorder) -> dict[str, Summary]:
    ops: dict[str, list[Sample]] = {}
    for s in recorder.samples:
        ops.setdefault(s.op, []).append(s)
    return {op: summarise(found) for op, found in ops.items()}


def span(recorder: Recorder) -> float:
    """Seconds from the first request's start to the last one's end."""
    if not recorder.samples:
        return math.nan
    return (max(s.at for s in recorder.samples)
            - min(s.at - s.seconds for s in recorder.samples))


def table(recorder: Recorder, seconds: float | None = None) -> list[str]:
    """One line per operation and one for all, as the report prints them (rates over
    ``seconds``, by default the span of the requests)."""
    seconds = seconds or span(recorder)
    lines = [(f"{'operation':<12}{'requests':>9}{'req/s':>8}{'p50':>9}{'p95':>9}{'p99':>9}"
             f"{'5xx':>6}  statuses")]
    rows = [*by_op(recorder).items(), ("all", summarise(recorder.samples))]
    for op, s in rows:
        lines.append(f"{op:<12}{s.n:>9}{s.n / seconds:>8.1f}{ms(s.p50):>9}{ms(s.p95):>9}"
                     f"{ms(s.p99):>9}{s.five_xx:>6}  "
                     + " ".join(f"{k}={v}" for k, v in s.statuses.items()))
    return lines


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class RssSampler:
    """Samples the RSS of the server's processes every ``every`` seconds while running."""

    pids: Callable[[], list[int]]
    every: float = 0.25
    peak_total_kib: int = 0
    peak_kib: dict[int, int] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            sizes = {pid: _rss_kib(pid) for pid in self.pids()}
            self.peak_total_kib = max(self.peak_total_kib, sum(sizes.values()))
            for pid, kib in sizes.items():
                self.peak_kib[pid] = max(self.peak_kib.get(pid, 0), kib)
            await asyncio.sleep(self.every)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def line(self) -> str:
        workers = sorted(self.peak_kib.values())
        return (f"server RSS peak (sampled every {self.every:g} s): all processes "
                f"{self.peak_total_kib / 1024:.0f} MiB; largest process "
                f"{(workers[-1] if workers else 0) / 1024:.0f} MiB")


@dataclass(frozen=True)
class Baseline:
    rate: float
    p50: float
    p99: float

    def line(self, concurrency: int) -> str:
        return (f"baseline GET /healthz, {concurrency} clients: {self.rate:.0f} req/s, "
                f"p50 {ms(self.p50)}, p99 {ms(self.p99)}")


async def baseline(base: str, seconds: float = 3.0, concurrency: int = 16) -> Baseline:
    """The raw request rate of this server and client on this machine, right now."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base, timeout=10,
                                 limits=httpx.Limits(max_connections=concurrency)) as http:
        async def worker() -> None:
            while time.monotonic() < deadline:
                started = time.monotonic()
                try:
                    response = await http.get("/healthz")
                except httpx.HTTPError:  # counted out of the rate, like any failure
                    continue
                if response.status_code == 200:
                    latencies.append(time.monotonic() - started)

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return Baseline(len(latencies) / elapsed, pct(latencies, 50), pct(latencies, 99))
