"""The bounded asyncio HTTP client: one browser-like visitor per person, and what it saw.

Every request is recorded (operation, status or failure, latency, whether a 429/503 carried
``Retry-After``). A visitor owns one ``httpx.AsyncClient`` with one connection, like a
browser tab, so the number of requests in flight never exceeds the number of visitors.
"""
from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pyotp

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_MESSAGE = re.compile(r'href="/messages/([0-9a-f]{32})"')
TIMEOUT_S = 30.0
CHUNK = 64 * 1024
# gunicorn closes idle keep-alive connections after 2 s; reusing one just then fails with no
# answer (browsers retry that silently). With 200 visitors in one starved event loop no
# expiry is safe, so visitors open a connection per request: a failure is then the server's.


@dataclass
class Sample:
    op: str
    status: str  # "200", "503", ..., "timeout", "error"
    seconds: float
    at: float  # monotonic time the request ended
    retry_after: bool


@dataclass
class Recorder:
    samples: list[Sample] = field(default_factory=list)

    def add(self, op: str, status: str, started: float, retry_after: bool = False) -> None:
        now = time.monotonic()
        self.samples.append(Sample(op, status, now - started, now, retry_after))

    def statuses(self) -> Counter[str]:
        return Counter(s.status for s in self.samples)


class Rejected(Exception):
    """The server did not do what the visitor asked (status kept in the record)."""


class Visitor:
    """One person's browser: log in with PIN + TOTP, read the inbox, open, log out."""

    def __init__(self, base: str, recorder: Recorder, timeout: float = TIMEOUT_S) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=timeout, follow_redirects=False,
                                      limits=httpx.Limits(max_connections=1,
                                                          max_keepalive_connections=0))
        self.recorder = recorder
        self.last_step = -1
        self.csrf = ""
        self.retry_after = ""  # of the last answer
        self.pace: Callable[[], Awaitable[None]] | None = None  # called before each request

    async def close(self) -> None:
        await self.http.aclose()

    async def _call(self, op: str, method: str, path: str, *, stream: bool = False,
                    **kwargs: object) -> httpx.Response:
        if self.pace is not None:
            await self.pace()
        started = time.monotonic()
        try:
            request = self.http.build_request(method, path, **kwargs)  # type: ignore[arg-type]
            response = await self.http.send(request, stream=stream)
            try:
                if stream:
                    async for _ in response.aiter_bytes(CHUNK):
                        pass
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            self.recorder.add(op, "timeout", started)
            raise Rejected(op) from None
        except httpx.HTTPError as exc:  # no (complete) answer: say which failure
            self.recorder.add(op, f"error:{type(exc).__name__}", started)
            raise Rejected(op) from None
        for cookie in self.http.cookies.jar:
            cookie.secure = False
        status = response.status_code
        self.retry_after = response.headers.get("Retry-After", "")
        self.recorder.add(op, str(status), started,
                          retry_after=bool(response.headers.get("Retry-After")))
        return response

    async def back_off(self, otherwise: float) -> None:
        """Wait as the last answer's Retry-After asks (capped at 30 s), else ``otherwise``."""
        wait = float(self.retry_after) if self.retry_after.isdigit() else otherwise
        await asyncio.sleep(min(wait, 30.0))

    async def get(self, op: str, path: str, expect: int = 200,
                  stream: bool = False) -> httpx.Response:
        response = await self._call(op, "GET", path, stream=stream)
        if response.status_code != expect:
            raise Rejected(op)
        return response

    async def login_form(self) -> str:
        page = await self.get("login form", "/login")
        found = _CSRF.search(page.text)
        if not found:
            raise Rejected("login form")
        return found.group(1)

    async def login(self, email: str, pin: str, totp_secret: str | None, csrf: str,
                    op: str = "login") -> httpx.Response:
        """POST the login form; a real code needs a TOTP step newer than the last used."""
        otp = "000000"
        if totp_secret is not None:
            step = int(time.time() // 30)
            if step <= self.last_step:  # the code of this step was used: wait for the next
                await asyncio.sleep((step + 1) * 30 - time.time() + 0.05)
                step = int(time.time() // 30)
            otp = pyotp.TOTP(totp_secret).at(step * 30)
        response = await self._call(op, "POST", "/login", data={
            "csrf_token": csrf, "identifier": email, "pin": pin, "otp": otp})
        if totp_secret is not None and response.status_code == 302:
            self.last_step = step  # the server accepts each step's code once
        return response

    async def sign_in(self, email: str, pin: str, totp_secret: str) -> None:
        response = await self.login(email, pin, totp_secret, await self.login_form())
        if response.status_code != 302 or response.headers.get("Location") != "/inbox":
            raise Rejected("login")

    async def inbox(self) -> list[str]:
        """Document ids on the first inbox page, newest first."""
        page = (await self.get("inbox", "/inbox")).text
        found = _CSRF.search(page)
        self.csrf = found.group(1) if found else ""
        return _MESSAGE.findall(page)

    async def open(self, document_id: str) -> None:
        await self.get("open", f"/messages/{document_id}/content", stream=True)

    async def sign_out(self) -> None:
        """POST /logout with the token of the last inbox page."""
        response = await self._call("logout", "POST", "/logout", data={"csrf_token": self.csrf})
        self.http.cookies.clear()
        if response.status_code != 302:
            raise Rejected("logout")
