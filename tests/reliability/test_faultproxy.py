"""The fault proxy itself, against tiny loopback servers: each fault does what it says."""
from __future__ import annotations

import http.client
import http.server
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import pytest

from tests.reliability.faultproxy import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except OSError:
            return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Http(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[str]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        type(self).seen.append(self.command)
        body = b"stored"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_GET = _answer

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    server = _Server(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[:2]
    server.shutdown()
    server.server_close()


@pytest.fixture
def web() -> Iterator[tuple[str, int]]:
    _Http.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Http)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[:2]
    server.shutdown()
    server.server_close()


def _connect(proxy: FaultProxy, timeout: float = 2.0) -> socket.socket:
    return socket.create_connection((proxy.host, proxy.port), timeout=timeout)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Up to ``n`` bytes: fewer if the peer closes or resets first."""
    got = b""
    while len(got) < n:
        try:
            piece = sock.recv(n - len(got))
        except ConnectionResetError:
            break
        if not piece:
            break
        got += piece
    return got


def test_pass_through_forwards_both_ways_and_counts(echo) -> None:
    with FaultProxy(echo) as proxy, _connect(proxy) as sock:
        sock.sendall(b"hello" * 1000)
        assert _recv_exactly(sock, 5000) == b"hello" * 1000
        stats = proxy.stats()
        assert stats.connections == 1 and stats.bytes_up == stats.bytes_down == 5000


def test_refuse_closes_the_listener_and_resets_open_connections(echo) -> None:
    with FaultProxy(echo) as proxy:
        sock = _connect(proxy)
        sock.sendall(b"x")
        assert sock.recv(1) == b"x"
        proxy.refuse()
        with pytest.raises(ConnectionResetError):
            sock.sendall(b"y")
            sock.recv(1)
        with pytest.raises(ConnectionRefusedError):
            _connect(proxy)
        proxy.pass_through()  # the same port again
        with _connect(proxy) as again:
            again.sendall(b"z")
            assert again.recv(1) == b"z"


def test_blackhole_accepts_and_never_answers_even_on_open_connections(echo) -> None:
    with FaultProxy(echo) as proxy:
        pooled = _connect(proxy, timeout=0.3)
        pooled.sendall(b"a")
        assert pooled.recv(1) == b"a"
        proxy.blackhole()
        for sock in (pooled, _connect(proxy, timeout=0.3)):
            sock.sendall(b"anyone there?")
            with pytest.raises(socket.timeout):
                sock.recv(1)
            sock.close()


def test_slow_caps_bandwidth_and_adds_latency(echo) -> None:
    with FaultProxy(echo) as proxy, _connect(proxy, timeout=5) as sock:
        proxy.slow(bandwidth=100_000)
        started = time.monotonic()
        sock.sendall(b"b" * 50_000)
        assert len(_recv_exactly(sock, 50_000)) == 50_000
        # 50 kB at 100 kB/s, both directions overlapping, minus the last 1/20 s piece
        assert time.monotonic() - started >= 0.45
        proxy.slow(latency=0.2)
        started = time.monotonic()
        sock.sendall(b"c")
        assert sock.recv(1) == b"c" and time.monotonic() - started >= 0.4


def test_reset_after_cuts_a_connection_at_an_exact_byte(echo) -> None:
    with FaultProxy(echo) as proxy, _connect(proxy) as sock:
        proxy.reset_after(1234, "down")
        sock.sendall(b"d" * 5000)
        assert len(_recv_exactly(sock, 5000)) == 1234
        assert proxy.stats().resets == 1


def test_stop_after_kills_the_server_mid_stream(echo) -> None:
    with FaultProxy(echo) as proxy:
        sock = _connect(proxy)
        proxy.stop_after(700, "up")
        sock.sendall(b"e" * 500)
        assert _recv_exactly(sock, 500) == b"e" * 500
        sock.sendall(b"f" * 500)  # crosses the limit: 200 more bytes reach it, then it dies
        assert _recv_exactly(sock, 500) == b""
        assert proxy.stats().bytes_up == 700
        with pytest.raises(ConnectionRefusedError):
            _connect(proxy)
        sock.close()


def _put(proxy: FaultProxy, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=5)
    try:
        conn.request("PUT", path, body=b"payload")
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def test_slowdown_answers_a_seeded_fraction_with_s3_503_xml(web) -> None:
    outcomes = []
    for _ in range(2):
        with FaultProxy(web, http=True, seed=42) as proxy:
            proxy.slowdown(0.2)
            statuses = [_put(proxy, f"/bucket/k{i}?x=1")[0] for i in range(150)]
            outcomes.append(statuses)
            stats = proxy.stats()
    assert outcomes[0] == outcomes[1], "the same seed must inject at the same requests"
    injected = outcomes[0].count(503)
    assert 15 <= injected <= 45 and stats.injected == injected
    assert [r.path for r in stats.requests][:2] == ["/bucket/k0", "/bucket/k1"]
    assert _Http.seen.count("PUT") == 2 * (150 - injected)  # injected ones never arrive


def test_slowdown_body_is_what_s3_sends_and_spares_other_methods(web) -> None:
    with FaultProxy(web, http=True, seed=1) as proxy:
        proxy.slowdown(1.0, methods=("PUT",))
        status, body = _put(proxy, "/b/key")
        assert status == 503 and b"<Code>SlowDown</Code>" in body
        conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=5)
        conn.request("GET", "/b/key")
        assert conn.getresponse().status == 200
        conn.close()


def test_slowdown_bursts_answer_consecutive_requests(web) -> None:
    with FaultProxy(web, http=True, seed=7) as proxy:
        proxy.slowdown(0.1, burst=3)
        flags = [_put(proxy, f"/b/{i}")[0] == 503 for i in range(200)]
    runs, current = [], 0
    for flag in flags + [False]:
        if flag:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    assert runs and all(r % 3 == 0 for r in runs[:-1])


def test_lose_replies_lets_the_request_do_its_work(web) -> None:
    with FaultProxy(web, http=True) as proxy:
        proxy.lose_replies()
        with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
            _put(proxy, "/b/lost")
        deadline = time.monotonic() + 2
        while "PUT" not in _Http.seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _Http.seen == ["PUT"]


def test_stop_is_idempotent_and_frees_the_thread(echo) -> None:
    proxy = FaultProxy(echo).start()
    thread = proxy._thread
    proxy.stop()
    proxy.stop()
    assert thread is not None and not thread.is_alive()


def test_in_front_of_a_real_smtp_server() -> None:
    """The same proxy in front of SMTP (aiosmtpd): mail passes, then refused, then silent."""
    import smtplib

    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    class Sink(Message):
        def __init__(self) -> None:
            super().__init__()
            self.got: list[object] = []

        def handle_message(self, message) -> None:  # type: ignore[no-untyped-def]
            self.got.append(message)

    with socket.socket() as probe:  # aiosmtpd needs a real port number
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with FaultProxy(("127.0.0.1", port), name="smtp-faultproxy") as proxy:
            message = "From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
            with smtplib.SMTP(proxy.host, proxy.port, timeout=5) as client:
                client.sendmail("a@example.org", ["b@example.org"], message)
            assert len(sink.got) == 1
            proxy.refuse()
            with pytest.raises(ConnectionRefusedError):
                smtplib.SMTP(proxy.host, proxy.port, timeout=5)
            proxy.blackhole()
            started = time.monotonic()
            with pytest.raises((socket.timeout, smtplib.SMTPServerDisconnected)):
                smtplib.SMTP(proxy.host, proxy.port, timeout=0.5)  # no greeting ever comes
            assert time.monotonic() - started < 2
    finally:
        controller.stop()
