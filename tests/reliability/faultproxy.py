"""A small TCP fault proxy of our own (toxiproxy is not installable here).

It listens on 127.0.0.1:<free port> in a background thread running an asyncio loop, forwards
every connection to one upstream (the S3 server, an SMTP server), and injects faults that the
test switches at runtime, from its own thread:

============================  ==========================================================
``pass_through()``            forward everything (the default)
``refuse()``                  close the listener (new connects get ECONNREFUSED) and reset
                              every open connection with a TCP RST: "the server stopped"
``reset_connections()``       RST every open connection now, keep listening
``blackhole()``               accept and read, never forward, never answer (also on
                              connections that are already open, e.g. pooled keep-alives)
``slow(latency, bandwidth)``  delay each chunk by ``latency`` s and/or cap throughput at
                              ``bandwidth`` bytes/s per connection and direction
``reset_after(n, direction)`` RST a connection once ``n`` more bytes went ``"up"`` (client to
                              upstream) or ``"down"`` (upstream to client) on it;
                              ``reset_after(0, "down")`` forwards requests but loses every
                              reply ("stored, but never acknowledged")
``lose_replies()``            HTTP upstreams only: forward each request (and its
                              ``100 Continue``), then RST instead of the final answer
``stop_after(n, direction)``  after ``n`` more bytes in total (all connections), act as
                              ``refuse()``: the server dies at a byte-exact random point
``slowdown(p, methods)``      HTTP upstreams only: answer a fraction ``p`` of requests with
                              the given methods with a canned S3 ``503 SlowDown`` (driven by
                              a ``random.Random(seed)``), never forwarding them; ``burst``
                              makes each hit answer that many requests in a row
============================  ==========================================================

``stats()`` returns a snapshot: connections accepted, bytes each way, and for HTTP upstreams
every request seen (method, path, monotonic time, whether it was answered by the proxy), so a
test can count attempts and measure the back-off between them.

HTTP parsing is deliberately small: request line + headers, ``Content-Length`` bodies (what
boto3 sends here); a ``Transfer-Encoding: chunked`` request switches that connection to plain
forwarding (no more injection on it). Everything stops with ``stop()`` (or the ``with`` block).
"""
from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Self

Direction = Literal["up", "down"]
LOOPBACK = "127.0.0.1"
CHUNK = 64 * 1024
CALL_TIMEOUT = 5.0
MAX_HEAD = 64 * 1024

SLOWDOWN_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    "<Resource>{path}</Resource><RequestId>{rid}</RequestId></Error>"
)


@dataclass(frozen=True)
class Request:
    """One HTTP request the proxy saw on its way to the upstream."""

    method: str
    path: str  # without the query string
    at: float  # time.monotonic() when its head arrived
    injected: bool  # answered by the proxy (503 SlowDown), never forwarded


@dataclass
class Stats:
    connections: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    resets: int = 0  # connections the proxy ended with an RST
    requests: list[Request] = field(default_factory=list)

    def of(self, method: str) -> list[Request]:
        return [r for r in self.requests if r.method == method]

    @property
    def injected(self) -> int:
        return sum(r.injected for r in self.requests)


@dataclass(frozen=True)
class _Fault:
    kind: str = "pass"  # pass|refused|blackhole|slow|reset_after|stop_after|lose_replies|slowdown
    latency: float = 0.0
    bandwidth: int | None = None
    nbytes: int = 0
    direction: Direction = "down"
    p: float = 0.0
    methods: frozenset[str] = frozenset()
    burst: int = 1
    generation: int = 0


class _Conn:
    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.counted: dict[Direction, tuple[int, int]] = {}  # direction -> (generation, bytes)
        self.dead = False


class FaultProxy:
    """A TCP proxy with switchable faults in front of ``upstream`` (host, port)."""

    def __init__(self, upstream: tuple[str, int], *, http: bool = False,
                 seed: int | str = 0, name: str = "faultproxy") -> None:
        self.upstream = upstream
        self.http = http
        self.name = name
        self.host = LOOPBACK
        self.port = 0
        self._rng = random.Random(seed)
        self._fault = _Fault()
        self._generation = 0
        self._global_count = 0
        self._burst_left = 0
        self._stats = Stats()
        self._conns: set[_Conn] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.base_events.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        with contextlib.suppress(Exception):
            self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CALL_TIMEOUT)
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"FaultProxy({self.host}:{self.port} -> {self.upstream[0]}:{self.upstream[1]}, " \
               f"{self._fault.kind})"

    # -- switching faults (from the test's thread) ------------------------------------------

    def pass_through(self) -> None:
        self._call(self._set(_Fault(), listen=True))

    def refuse(self) -> None:
        self._call(self._refuse())

    def reset_connections(self) -> None:
        self._call(self._reset_all())

    def blackhole(self) -> None:
        self._call(self._set(_Fault("blackhole"), listen=True))

    def slow(self, *, latency: float = 0.0, bandwidth: int | None = None) -> None:
        if latency < 0 or (bandwidth is not None and bandwidth < 1):
            raise ValueError("latency >= 0 and bandwidth >= 1 byte/s")
        self._call(self._set(_Fault("slow", latency=latency, bandwidth=bandwidth), listen=True))

    def reset_after(self, nbytes: int, direction: Direction = "down") -> None:
        self._call(self._set(_Fault("reset_after", nbytes=nbytes, direction=direction),
                             listen=True))

    def lose_replies(self) -> None:
        """HTTP: forward requests (and ``100 Continue``), then reset instead of the final
        answer: the upstream did the work, the client never learns it."""
        if not self.http:
            raise ValueError("lose_replies needs an HTTP upstream (FaultProxy(http=True))")
        self._call(self._set(_Fault("lose_replies"), listen=True))

    def stop_after(self, nbytes: int, direction: Direction = "up") -> None:
        self._call(self._set(_Fault("stop_after", nbytes=nbytes, direction=direction),
                             listen=True))

    def slowdown(self, p: float, *, methods: tuple[str, ...] = ("PUT",), burst: int = 1) -> None:
        if not self.http:
            raise ValueError("503 SlowDown needs an HTTP upstream (FaultProxy(http=True))")
        if not 0 <= p <= 1 or burst < 1:
            raise ValueError("0 <= p <= 1 and burst >= 1")
        self._call(self._set(_Fault("slowdown", p=p, methods=frozenset(methods), burst=burst),
                             listen=True))

    def stats(self) -> Stats:
        async def snapshot() -> Stats:
            return replace(self._stats, requests=list(self._stats.requests))
        return self._call(snapshot())

    def reset_stats(self) -> None:
        async def clear() -> None:
            self._stats = Stats()
        self._call(clear())

    # -- inside the loop ---------------------------------------------------------------------

    def _run(self) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if self._loop is None:
            coro.close()
            raise RuntimeError("the fault proxy is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(CALL_TIMEOUT)

    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, reuse_address=True, limit=MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _set(self, fault: _Fault, listen: bool) -> None:
        self._generation += 1
        self._global_count = 0
        self._burst_left = 0
        self._fault = replace(fault, generation=self._generation)
        if listen:
            await self._listen()

    async def _refuse(self) -> None:
        await self._set(_Fault("refused"), listen=False)
        if self._server is not None:
            self._server.close()  # the listening socket goes now: connects are refused
            self._server = None
        await self._reset_all()

    async def _reset_all(self) -> None:
        for conn in list(self._conns):
            self._kill(conn)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        await self._reset_all()
        for task in list(self._tasks):
            task.cancel()

    def _kill(self, conn: _Conn) -> None:
        if not conn.dead:
            conn.dead = True
            self._stats.resets += 1
        for writer in (conn.client, conn.upstream):
            if writer is not None:
                _rst(writer)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = _Conn(writer)
        self._conns.add(conn)
        self._stats.connections += 1
        try:
            if self._fault.kind == "refused":
                self._kill(conn)
                return
            if self._fault.kind == "blackhole":
                await _drain_forever(reader)
                return
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(*self.upstream, limit=MAX_HEAD), CALL_TIMEOUT)
            except (TimeoutError, OSError):
                self._kill(conn)
                return
            conn.upstream = up_writer
            up = asyncio.ensure_future(
                self._http_up(conn, reader) if self.http else self._pump(conn, reader, "up"))
            down = asyncio.ensure_future(self._pump(conn, up_reader, "down"))
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            # A reply may still be on its way when the client side ends (or vice versa).
            await asyncio.wait({up, down}, timeout=0.5)
            for t in (up, down):
                t.cancel()
        except (asyncio.CancelledError, ConnectionError, OSError):
            pass
        finally:
            self._conns.discard(conn)
            for w in (conn.client, conn.upstream):
                if w is not None and not conn.dead:
                    with contextlib.suppress(Exception):
                        w.close()
            self._tasks.discard(task)

    async def _pump(self, conn: _Conn, src: asyncio.StreamReader, direction: Direction) -> None:
        try:
            while not conn.dead:
                data = await src.read(CHUNK)
                if not data:
                    return
                await self._forward(conn, data, direction)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            return

    async def _forward(self, conn: _Conn, data: bytes, direction: Direction) -> None:
        """Send ``data`` on in ``direction`` as the current fault says."""
        fault = self._fault
        dst = conn.upstream if direction == "up" else conn.client
        if dst is None or conn.dead:
            return
        if fault.kind in ("blackhole", "refused"):
            return
        if fault.kind == "lose_replies" and direction == "down":
            # Interim answers (``100 Continue``) pass, so the request body is sent and
            # stored; the final answer is lost with a reset.
            if data.startswith(b"HTTP/1.1 1") and (end := data.find(b"\r\n\r\n")) >= 0:
                await self._write(dst, data[:end + 4], direction)
                data = data[end + 4:]
                if not data:
                    return
            self._kill(conn)
            return
        if fault.kind in ("reset_after", "stop_after") and fault.direction == direction:
            if fault.kind == "reset_after":
                gen, seen = conn.counted.get(direction, (fault.generation, 0))
                seen = seen if gen == fault.generation else 0
            else:
                seen = self._global_count
            if seen + len(data) > fault.nbytes:
                allowed = max(0, fault.nbytes - seen)
                await self._write(dst, data[:allowed], direction)
                if fault.kind == "reset_after":
                    self._kill(conn)
                else:
                    await self._refuse()
                return
            if fault.kind == "reset_after":
                conn.counted[direction] = (fault.generation, seen + len(data))
            else:
                self._global_count += len(data)
        if fault.kind == "slow":
            if fault.latency:
                await asyncio.sleep(fault.latency)
            if fault.bandwidth:
                piece = max(1, fault.bandwidth // 20)
                for start in range(0, len(data), piece):
                    if self._fault.generation != fault.generation:  # switched meanwhile
                        await self._forward(conn, data[start:], direction)
                        return
                    part = data[start:start + piece]
                    await self._write(dst, part, direction)
                    await asyncio.sleep(len(part) / fault.bandwidth)
                return
        await self._write(dst, data, direction)

    async def _write(self, dst: asyncio.StreamWriter, data: bytes, direction: Direction) -> None:
        if not data:
            return
        dst.write(data)
        if direction == "up":
            self._stats.bytes_up += len(data)
        else:
            self._stats.bytes_down += len(data)
        await dst.drain()

    # -- HTTP (client -> upstream) -----------------------------------------------------------

    async def _http_up(self, conn: _Conn, reader: asyncio.StreamReader) -> None:
        try:
            while not conn.dead:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError as exc:
                    if exc.partial:
                        await self._forward(conn, exc.partial, "up")
                    return
                except asyncio.LimitOverrunError:
                    await self._pump(conn, reader, "up")  # not HTTP we understand: just forward
                    return
                method, path, headers = _parse_head(head)
                length = int(headers.get("content-length", "0") or 0)
                inject = self._should_inject(method)
                self._stats.requests.append(Request(method, path, time.monotonic(), inject))
                if inject:
                    if length and headers.get("expect", "").lower() != "100-continue":
                        await reader.readexactly(length)
                    await self._answer_slowdown(conn, path)
                    return
                await self._forward(conn, head, "up")
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    await self._pump(conn, reader, "up")
                    return
                while length > 0 and not conn.dead:
                    data = await reader.read(min(CHUNK, length))
                    if not data:
                        return
                    length -= len(data)
                    await self._forward(conn, data, "up")
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            return

    def _should_inject(self, method: str) -> bool:
        fault = self._fault
        if fault.kind != "slowdown" or method not in fault.methods:
            return False
        if self._burst_left > 0:
            self._burst_left -= 1
            return True
        if self._rng.random() < fault.p:
            self._burst_left = fault.burst - 1
            return True
        return False

    async def _answer_slowdown(self, conn: _Conn, path: str) -> None:
        rid = uuid.uuid4().hex[:16].upper()
        body = SLOWDOWN_BODY.format(path=path, rid=rid).encode()
        head = ("HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                f"Content-Length: {len(body)}\r\nx-amz-request-id: {rid}\r\n"
                "Server: faultproxy\r\nConnection: close\r\n\r\n").encode()
        conn.client.write(head + body)
        with contextlib.suppress(ConnectionError, OSError):
            await conn.client.drain()
        conn.dead = True  # close both sides gently: the client reads the 503, then EOF
        for w in (conn.client, conn.upstream):
            if w is not None:
                with contextlib.suppress(Exception):
                    w.close()


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    method = parts[0] if parts else ""
    target = parts[1] if len(parts) > 1 else ""
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return method, target.split("?", 1)[0], headers


async def _drain_forever(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while await reader.read(CHUNK):
            pass


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0) instead of a FIN: the peer sees a reset."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(Exception):
        writer.transport.abort()
