"""The processes of a many-node deployment, on one machine: gunicorn web nodes and workers.

A web node is what docker-compose.yml runs as ``web``: gunicorn serving ``web:create_app()``;
a worker is ``postbox worker``. Each process starts in a session of its own, so a node's whole
process tree (gunicorn's master and its workers) dies at once with :meth:`Proc.kill`, like a
machine that loses power; and each dies with the test run if pytest itself is killed.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT_S = 60.0
_PRCTL = ctypes.CDLL(None).prctl if sys.platform == "linux" else None


def _die_with_parent() -> None:
    # The signal comes when the *thread* that started the child ends: start from the main
    # thread only (or one that outlives the process).
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: a killed test run leaves no node behind


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    """One started process group; ``url`` is set for web nodes."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole group: no request finishes, no transaction commits."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (gunicorn and the worker finish what they hold), SIGKILL after timeout."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _spawn(name: str, command: list[str], env: dict[str, str], log: Path) -> Proc:
    with log.open("wb") as out:
        popen = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True,
                                 preexec_fn=_die_with_parent)  # noqa: PLW1509 - prctl only
    return Proc(name, popen, log)


def start_web(name: str, env: dict[str, str], log: Path, *, workers: int = 1,
              threads: int = 4) -> Proc:
    """A gunicorn web node on a free loopback port; :func:`wait_ready` before use."""
    port = free_port()
    proc = _spawn(name, [str(BIN / "gunicorn"), "--workers", str(workers), "--threads",
                         str(threads), "--bind", f"127.0.0.1:{port}", "--timeout", "120",
                         "--graceful-timeout", "5", "--log-level", "warning",
                         "web:create_app()"], env, log)
    proc.url = f"http://127.0.0.1:{port}"
    return proc


def start_worker(name: str, env: dict[str, str], log: Path, *, idle: float = 0.2,
                 batch: int = 10) -> Proc:
    """A ``postbox worker`` process; :func:`wait_ready` before counting on it."""
    return _spawn(name, [str(BIN / "postbox"), "worker", "--idle", str(idle), "--batch",
                         str(batch)], env, log)


def _ready(proc: Proc) -> bool:
    if not proc.url:
        return b" running; mail: " in proc.log.read_bytes()
    try:
        return httpx.get(f"{proc.url}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def wait_ready(procs: list[Proc]) -> None:
    """Until every web node answers /healthz and every worker says it runs."""
    deadline = time.monotonic() + START_TIMEOUT_S
    waiting = list(procs)
    while waiting:
        for proc in list(waiting):
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
            if _ready(proc):
                waiting.remove(proc)
        if waiting and time.monotonic() > deadline:
            raise RuntimeError(f"{waiting[0].name} not ready within {START_TIMEOUT_S:.0f} s:"
                               f"\n{waiting[0].tail()}")
        time.sleep(0.2)
