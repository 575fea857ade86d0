"""Kill ``postbox batch send`` midway through 500 items, run it again: exactly 500 documents
and 500 ``consigned`` evidences. The server holds item requests at a gate after a few, so the
kill lands midway by construction, not by timing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from postbox.models import Batch, BatchItem, Document, Evidence
from tests.api.live import Live, serve
from tests.fixtures.postbox import pdf_bytes
from tests.web.helpers import activate_person

pytestmark = [pytest.mark.s3, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
ITEMS = 500
OPEN_AFTER = 12  # item requests let through before the gate closes


class Gate:
    """WSGI middleware: item uploads after the first ``after`` wait until released."""

    def __init__(self, app: Any, after: int) -> None:
        self.app, self.after, self.seen = app, after, 0
        self.lock, self.reached, self.release = threading.Lock(), threading.Event(), \
            threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"].endswith("/items"):
            with self.lock:
                self.seen += 1
                held = self.seen > self.after
            if held:
                self.reached.set()
                self.release.wait(timeout=120)
        return self.app(environ, start_response)


def count(live: Live, query: Any) -> int:
    with live.pb.uow() as uow:
        return int(uow.session.scalar(query) or 0)


def test_killed_run_resumes_without_sending_anything_twice(live: Live, clock,
                                                           tmp_path: Path) -> None:
    for n in range(5):
        activate_person(live.pb, clock, "acme", f"C-{n}", f"c{n}@example.org")
    folder = tmp_path / "mailing"
    (folder / "docs").mkdir(parents=True)
    body = pdf_bytes("statement")
    lines = ["recipient,file,subject"]
    for n in range(ITEMS):
        (folder / "docs" / f"{n:03d}.pdf").write_bytes(body.replace(b"statement",
                                                                    f"stmt{n:05d}".encode()))
        lines.append(f"C-{n % 5},docs/{n:03d}.pdf,Statement {n}")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")

    gate = Gate(live.app, OPEN_AFTER)
    with serve(gate) as url:  # type: ignore[arg-type]
        env = {**os.environ, "POSTBOX_SERVER": url, "POSTBOX_TOKEN": live.tokens["sender"]}
        command = [sys.executable, "-m", "cli.main", "batch", "send", str(manifest),
                   "--concurrency", "4", "--group-size", "10", "--no-progress"]
        first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        try:
            assert gate.reached.wait(timeout=60), "the CLI never reached the gate"
        finally:
            first.send_signal(signal.SIGKILL)
            first.communicate(timeout=30)
        gate.release.set()  # requests held at the gate now finish (their client is gone)

        stored = count(live, select(func.count()).select_from(BatchItem))
        assert 0 < stored < ITEMS, stored
        assert count(live, select(func.count()).select_from(Evidence)
                     .where(Evidence.event == "consigned")) == 0  # nothing delivered yet

        second = subprocess.run(command + ["--report", str(tmp_path / "report.csv")], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=300,
                                check=False)
    assert second.returncode == 0, second.stderr
    assert "resumed" in second.stderr
    assert count(live, select(func.count()).select_from(Document)) == ITEMS
    assert count(live, select(func.count()).select_from(BatchItem)) == ITEMS
    for event in ("submission_accepted", "consigned"):
        assert count(live, select(func.count()).select_from(Evidence)
                     .where(Evidence.event == event)) == ITEMS
    with live.pb.uow() as uow:
        assert list(uow.session.scalars(select(Batch.state))) == ["delivered"]
    assert len((tmp_path / "report.csv").read_text().splitlines()) == ITEMS + 1
