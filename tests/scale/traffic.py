"""Clients of several web nodes: the sender API round-robin, and a recipient's browser.

:class:`RoundRobin` is what a load balancer in front of the nodes does: each call goes to the
next node; a node that cannot be reached (or answers 502/503/504) is taken out of the
rotation and the same call goes to the next one. That is safe only because every call it
makes is idempotent (batch creation and items carry keys), which is the point under test.

:class:`Browser` is one recipient's browser from its own loopback address (127.0.0.0/8 is all
local on Linux), so per-address rate limits count each person apart: it keeps the session
cookie itself, because the cookie is ``Secure`` and http.cookiejar would not send it over the
plain http of loopback, and it posts forms with the CSRF token of the page it last loaded.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from http.cookies import SimpleCookie
from typing import TypeVar

import httpx

from cli.apiclient import ApiClient, ApiError

T = TypeVar("T")
FAILOVER_STATUSES = (None, 502, 503, 504)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class RoundRobin:
    def __init__(self, urls: Sequence[str], token: str, *, connections: int = 8) -> None:
        # One attempt per node and call: failing over is this class's job, not the client's.
        self.clients = {url: ApiClient(url, token, connections=connections, attempts=1,
                                       timeout=120.0) for url in urls}
        self.down: set[str] = set()
        self.failovers = 0
        self.calls: dict[str, int] = {url: 0 for url in urls}
        self._turn = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def _order(self) -> list[str]:
        with self._lock:
            urls = list(self.clients)
            start, self._turn = self._turn, self._turn + 1
        rotated = urls[start % len(urls):] + urls[:start % len(urls)]
        return [u for u in rotated if u not in self.down] + [u for u in rotated if u in self.down]

    def call(self, fn: Callable[[ApiClient], T], rounds: int = 5) -> T:
        """``fn`` on the next node; on a node failure, the same call on the next one."""
        last: ApiError | None = None
        for round_ in range(rounds):
            for url in self._order():
                try:
                    result = fn(self.clients[url])
                except ApiError as exc:
                    if exc.status == 429:  # the shared per-token limit: wait, then go on
                        last = exc
                        time.sleep(1.0)
                        continue
                    if exc.status not in FAILOVER_STATUSES:
                        raise
                    last = exc
                    with self._lock:
                        self.down.add(url)
                        self.failovers += 1
                    continue
                with self._lock:
                    self.calls[url] += 1
                return result
            time.sleep(0.5 * (round_ + 1))  # every node failed: give them a moment
        assert last is not None
        raise last


class Browser:
    def __init__(self, address: str) -> None:
        self.http = httpx.Client(transport=httpx.HTTPTransport(local_address=address),
                                 timeout=60.0, follow_redirects=False)
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def close(self) -> None:
        self.http.close()

    def _send(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} \
            if self.cookies else {}
        response = self.http.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]
        for line in response.headers.get_list("set-cookie"):
            for name, morsel in SimpleCookie(line).items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        found = _CSRF.search(response.text) if response.status_code == 200 else None
        if found:
            self.csrf = found.group(1)
        return response

    def get(self, url: str) -> httpx.Response:
        return self._send("GET", url)

    def post(self, url: str, form: dict[str, str]) -> httpx.Response:
        return self._send("POST", url, data={"csrf_token": self.csrf, **form})
