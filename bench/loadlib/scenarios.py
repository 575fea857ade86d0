"""The three load scenarios of issue #11, each against a running server; they return figures.

- L1 steady: recipients at a fixed total request rate (log in with PIN + TOTP, inbox, open
  the newest PDF, inbox, open their first PDF, log out) while ``postbox batch send`` delivers
  a batch to them every minute.
- L3 spike: users arrive from 0 to N over the ramp, each logs in and reads with a short
  think time until the spike ends; a probe reads its inbox twice a second throughout, which
  gives the recovery time once the spike is over.
- L4 brute force: wrong PINs against one account, then against many, from many clients at
  once (the bench raises the per-address limit: a botnet has many addresses); then from one
  client with the production per-address limit.
"""
from __future__ import annotations

import asyncio
import math
import os
import random
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from bench.ingest import BIN, ROOT
from bench.loadlib.client import Recorder, Rejected, Sample, Visitor
from bench.loadlib.instance import PIN, Person
from bench.loadlib.stats import pct

PROBE_EVERY_S = 0.5


class Pacer:
    """Hands out request slots at ``rate`` per second in total (open loop: a slow server
    makes visitors wait for their answers, not the schedule)."""

    def __init__(self, rate: float) -> None:
        self.gap = 1.0 / rate
        self.next = time.monotonic()

    async def __call__(self) -> None:
        now = time.monotonic()
        slot = max(now, self.next)
        self.next = slot + self.gap
        if slot > now:
            await asyncio.sleep(slot - now)


async def _closing(visitors: list[Visitor]) -> None:
    await asyncio.gather(*(v.close() for v in visitors))


# ---------------------------------------------------------------------------- L1 --------

@dataclass
class BatchRun:
    number: int
    started: float
    seconds: float = math.nan
    exit_code: int | None = None
    tail: str = ""
    attempts: int = 0


@dataclass
class L1Result:
    recorder: Recorder
    seconds: float
    batches: list[BatchRun] = field(default_factory=list)
    visits: int = 0


def _manifest(folder: Path, number: int, size: int, people: list[Person]) -> Path:
    manifest = folder / f"batch-{number}.csv"
    with manifest.open("w") as fh:
        fh.write("recipient,file,subject\n")
        for i in range(size):
            fh.write(f"{people[i % len(people)].external_id},doc.pdf,Batch {number} letter {i}\n")
    return manifest


async def _batch(run: BatchRun, manifest: Path, base: str, token: str,
                 env: dict[str, str], limit_s: float) -> None:
    """``postbox batch send``; run again (it resumes) while it asks for that, up to 3 times."""
    deadline = time.monotonic() + limit_s
    while True:
        run.attempts += 1
        proc = await asyncio.create_subprocess_exec(
            str(BIN / "postbox"), "batch", "send", str(manifest), "--server", base, "--token",
            token, "--concurrency", "4", "--no-progress", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            _, err = await asyncio.wait_for(proc.communicate(),
                                            max(1.0, deadline - time.monotonic()))
        except TimeoutError:
            proc.kill()
            _, err = await proc.communicate()
        lines = (err or b"").decode(errors="replace").strip().splitlines()
        run.tail = lines[-1] if lines else ""
        run.exit_code = proc.returncode
        if proc.returncode == 0 or run.attempts >= 3 or "again" not in run.tail \
                or time.monotonic() >= deadline:
            break
    run.seconds = time.monotonic() - run.started


async def l1(base: str, people: list[Person], seconds: float, rate: float, batch_every: float,
             batch_size: int, folder: Path, token: str, env: dict[str, str]) -> L1Result:
    result = L1Result(Recorder(), seconds)
    pacer = Pacer(rate)
    started = time.monotonic()
    deadline = started + seconds

    async def visitor(person: Person) -> None:
        v = Visitor(base, result.recorder)
        v.pace = pacer
        # Spread the first logins over the first few seconds, as people arrive.
        await asyncio.sleep(random.uniform(0, min(5.0, seconds / 4)))
        try:
            while time.monotonic() < deadline:
                try:
                    await v.sign_in(person.email, PIN, person.totp_secret)
                    newest = (await v.inbox())[:1]
                    for doc in newest:
                        await v.open(doc)
                    await v.inbox()
                    await v.open(person.document_id)
                    await v.sign_out()
                    result.visits += 1
                except Rejected:
                    v.http.cookies.clear()
                    await v.back_off(1.0)
        finally:
            await v.close()

    async def arrivals() -> None:
        number = 0
        tasks = []
        while True:
            at = started + number * batch_every
            if at >= deadline:
                break
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            run = BatchRun(number, time.monotonic())
            result.batches.append(run)
            manifest = _manifest(folder, number, batch_size, people)
            tasks.append(asyncio.create_task(_batch(run, manifest, base, token, env,
                                                    limit_s=max(120.0, 3 * batch_every))))
            number += 1
        await asyncio.gather(*tasks)

    await asyncio.gather(arrivals(), *(visitor(p) for p in people))
    return result


# ---------------------------------------------------------------------------- L3 --------

@dataclass
class L3Result:
    recorder: Recorder
    probe: list[Sample]
    users: int
    ramp_s: float
    spike_s: float
    before_p95: float
    threshold: float
    recovery_s: float  # NaN: not recovered within the watch
    watch_s: float
    peak_in_flight: int = 0


async def l3(base: str, people: list[Person], probe_person: Person, ramp_s: float,
             spike_s: float, watch_s: float) -> L3Result:
    recorder, probe_rec = Recorder(), Recorder()
    probe = Visitor(base, probe_rec)
    await probe.sign_in(probe_person.email, PIN, probe_person.totp_secret)
    for _ in range(20):  # the probe's normal latency, before anything else runs
        await probe.inbox()
        await asyncio.sleep(0.1)
    quiet = [s.seconds for s in probe_rec.samples if s.op == "inbox"]
    before_p95 = pct(quiet, 95)
    threshold = max(2 * before_p95, before_p95 + 0.05)
    probe_rec.samples.clear()

    started = time.monotonic()
    spike_end = started + spike_s
    in_flight = [0, 0]  # now, peak

    async def user(i: int, person: Person) -> None:
        await asyncio.sleep(i * ramp_s / len(people))
        v = Visitor(base, recorder)
        signed_in = False
        try:
            while time.monotonic() < spike_end:
                in_flight[0] += 1
                in_flight[1] = max(in_flight[1], in_flight[0])
                try:
                    if not signed_in:
                        await v.sign_in(person.email, PIN, person.totp_secret)
                        signed_in = True
                    docs = await v.inbox()
                    if docs and time.monotonic() < spike_end:
                        await v.open(docs[0])
                except Rejected:
                    in_flight[0] -= 1
                    await v.back_off(random.uniform(0.5, 1.5))
                    continue
                in_flight[0] -= 1
                await asyncio.sleep(random.uniform(0.5, 1.5))  # people read, then click
        finally:
            await v.close()

    async def watch() -> None:
        while time.monotonic() < spike_end + watch_s:
            tick = time.monotonic()
            try:
                await probe.inbox()
            except Rejected:
                pass
            await asyncio.sleep(max(0.0, PROBE_EVERY_S - (time.monotonic() - tick)))

    await asyncio.gather(watch(), *(user(i, p) for i, p in enumerate(people)))
    await probe.close()
    samples = [s for s in probe_rec.samples if s.at >= spike_end]
    recovery = math.nan
    good = 0
    for s in samples:  # the first of three good probes in a row ends the recovery
        good = good + 1 if s.status == "200" and s.seconds <= threshold else 0
        if good == 3:
            recovery = max(0.0, s.at - s.seconds - spike_end - 2 * PROBE_EVERY_S)
            break
    return L3Result(recorder, probe_rec.samples, len(people), ramp_s, spike_s, before_p95,
                    threshold, recovery, watch_s, in_flight[1])


# ---------------------------------------------------------------------------- L4 --------

@dataclass
class L4Result:
    name: str
    recorder: Recorder
    seconds: float
    accounts: int
    attackers: int


def _wrong_pin(rng: random.Random) -> str:
    while True:
        pin = f"{rng.randrange(10**6):06d}"
        if pin != PIN:
            return pin


async def storm(name: str, base: str, emails: list[str], attackers: int, seconds: float,
                attempts_per_account: int) -> L4Result:
    """``attackers`` clients post wrong PINs until every account got ``attempts_per_account``
    tries or the time is up. Account by account: the tries at one account arrive together,
    from many clients at once, which is what the per-account cap has to withstand. A try
    turned away with 429/503 is made again after the Retry-After wait."""
    recorder = Recorder()
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    work = deque(email for email in emails for _ in range(attempts_per_account))
    started = time.monotonic()
    deadline = started + seconds

    async def attacker() -> None:
        v = Visitor(base, recorder)
        try:
            csrf = await v.login_form()
            while work and time.monotonic() < deadline:
                email = work.popleft()
                try:
                    answer = await v.login(email, _wrong_pin(rng), None, csrf, op="wrong PIN")
                except Rejected:
                    continue
                if answer.status_code in (429, 503):  # turned away before the PIN check:
                    work.appendleft(email)  # the try is still to make, after the wait asked
                    await v.back_off(2.0)
        except Rejected:
            pass
        finally:
            await v.close()

    await asyncio.gather(*(attacker() for _ in range(attackers)))
    return L4Result(name, recorder, time.monotonic() - started, len(emails), attackers)


def lock_bound(max_failures: int, seconds: float) -> int:
    """Failures the lockout lets through in ``seconds`` at most: ``max_failures``, then one
    more each time a lock (1, 2, 4, ... minutes) runs out."""
    allowed, t, lock = max_failures, 0.0, 60.0
    while t + lock < seconds:
        t += lock
        allowed += 1
        lock *= 2
    return allowed
