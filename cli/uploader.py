"""Sending a checked manifest's rows to an open batch: concurrent, grouped, with progress.

Rows go in groups (up to ``group_size`` items or ``GROUP_BYTES`` per request) over
``concurrency`` connections; at most twice that many groups are in flight, so memory does not
grow with the manifest. A group that fails after the client's retries stops the run: what
was stored stays stored (keys make a re-run skip or replay it).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from cli.apiclient import ApiClient, ApiError, Upload
from cli.manifest import Row

GROUP_BYTES = 8 << 20
OK = {"accepted", "consigned", "notified", "retrieved", "held"}


@dataclass
class Tally:
    sent: int = 0
    bytes: int = 0
    accepted: int = 0
    replayed: int = 0
    unreachable: list[int] = field(default_factory=list)  # lines
    failed: list[tuple[int, str, str, str]] = field(default_factory=list)  # line, key, who, why
    stopped: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class _Rate(ProgressColumn):
    """Items/s and MB/s since the start."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        if elapsed <= 0:
            return Text("")
        mb = task.fields.get("bytes", 0) / 1e6
        return Text(f"{task.completed / elapsed:6.1f} items/s {mb / elapsed:5.1f} MB/s")


def progress_bar(console: Console, enabled: bool) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("items {task.fields[mb]:.1f} MB"),
                    _Rate(), TimeRemainingColumn(), console=console, disable=not enabled)


def groups(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    group: list[Row] = []
    weight = 0
    for row in rows:
        if group and (len(group) >= size or weight + row.size > GROUP_BYTES):
            yield group
            group, weight = [], 0
        group.append(row)
        weight += row.size
    if group:
        yield group


def upload(api: ApiClient, batch_id: str, rows: Iterable[Row], *, total: int,
           concurrency: int, group_size: int, progress: Progress) -> Tally:
    tally = Tally()
    task = progress.add_task("sending", total=total, mb=0.0, bytes=0)
    slots = threading.BoundedSemaphore(concurrency * 2)

    def send(group: list[Row]) -> None:
        uploads = [Upload(r.metadata(), r.path, r.name) for r in group]
        try:
            outcomes = api.add_items(batch_id, uploads)
        except ApiError as exc:
            with tally.lock:
                tally.stopped = tally.stopped or str(exc)
                tally.failed.extend((r.line, r.key, r.recipient, str(exc)) for r in group)
            return
        with tally.lock:
            for outcome in outcomes:  # one per item, in the order sent
                _count(tally, group[int(outcome["index"])], outcome)
            for row in group[len(outcomes):]:  # never the case with a conforming server
                tally.failed.append((row.line, row.key, row.recipient, "no answer for it"))
            tally.bytes += sum(r.size for r in group)
            progress.update(task, advance=len(group), bytes=tally.bytes, mb=tally.bytes / 1e6)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="upload") as pool:
        futures: list[Future[None]] = []
        for group in groups(rows, group_size):
            if tally.stopped:
                break
            slots.acquire()
            future = pool.submit(send, group)
            future.add_done_callback(lambda _f: slots.release())
            futures = [f for f in futures if not f.done()] + [future]
        for future in futures:
            future.result()
    return tally


def _count(tally: Tally, row: Row, outcome: dict[str, object]) -> None:
    tally.sent += 1
    status, problem = outcome.get("status"), outcome.get("problem")
    if problem:
        detail = problem.get("detail") if isinstance(problem, dict) else problem
        tally.failed.append((row.line, row.key, row.recipient, str(detail)))
    elif status == "unreachable":
        tally.unreachable.append(row.line)
    elif status in OK:
        tally.accepted += 1
        tally.replayed += bool(outcome.get("replayed"))
    else:
        tally.failed.append((row.line, row.key, row.recipient,
                             f"{status}: {outcome.get('reason') or 'no reason given'}"))


def settle(api: ApiClient, batch_id: str, action: str, console: Console,
           pause: float = 0.0) -> dict[str, object]:
    """POST close (or cancel) until nothing is pending; each call does a bounded share."""
    while True:
        batch = api.settle(batch_id, action)
        if not batch.get("pending") and batch.get("state") != "closed":
            return batch
        console.print(f"{action}: {batch['pending']} items still to settle")
        if pause:
            time.sleep(pause)
