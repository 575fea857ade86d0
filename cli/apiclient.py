"""A small client of the sender API (httpx, synchronous, explicit timeouts, safe retries).

Every call it makes is safe to repeat: reads, idempotent POSTs (batch creation and items carry
keys, documents an ``Idempotency-Key``), close and cancel. So a failed connection, a 429 (after
its ``Retry-After``) or a 502/503/504 is retried with capped exponential backoff and jitter; any
other problem answer raises :class:`ApiError` with the server's ``detail``.
"""
from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from postbox.errors import PostboxError

RETRY_STATUSES = (429, 502, 503, 504)
PROBLEM_PREFIX = "urn:postbox:problem:"


class ApiError(PostboxError):
    """The server answered with a problem (or could not be reached after retries)."""

    kind = "api"

    def __init__(self, message: str, status: int | None = None,
                 problem: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem or {}

    @property
    def problem_kind(self) -> str | None:
        kind = str(self.problem.get("type", ""))
        return kind.removeprefix(PROBLEM_PREFIX) if kind.startswith(PROBLEM_PREFIX) else None


@dataclass(frozen=True)
class Upload:
    """One batch item to send: its JSON metadata and the file it names."""

    metadata: dict[str, Any]
    path: Path
    filename: str


class ApiClient:
    def __init__(self, server: str, token: str, *, connections: int = 10,
                 attempts: int = 8, timeout: float = 120.0,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not server.startswith(("http://", "https://")):
            raise ApiError(f"--server must be an http(s) URL, not {server[:60]!r}")
        if not token:
            raise ApiError("a token is needed: --token or POSTBOX_TOKEN")
        self._client = httpx.Client(
            base_url=server.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {token}", "User-Agent": "postbox-cli"},
            timeout=httpx.Timeout(timeout, connect=10.0, pool=timeout),
            limits=httpx.Limits(max_connections=connections,
                                max_keepalive_connections=connections),
            transport=transport)
        self._attempts, self._sleep = attempts, sleep
        self._rng = rng or random.Random()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiClient:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------

    def request(self, method: str, path: str, *, files: Callable[[ExitStack], Any] | None = None,
                **kwargs: Any) -> httpx.Response:
        """Send, retrying what is safe to retry; raise ApiError on a problem answer.

        ``files`` builds the multipart parts afresh for each attempt (streams are consumed)."""
        for attempt in range(1, self._attempts + 1):
            with ExitStack() as stack:
                try:
                    extra = {"files": files(stack)} if files is not None else {}
                    response = self._client.request(method, path, **kwargs, **extra)
                except httpx.TransportError as exc:
                    if attempt == self._attempts:
                        raise ApiError(f"cannot reach the server: {exc.__class__.__name__}: "
                                       f"{exc}") from None
                    self._backoff(attempt, None)
                    continue
            if response.status_code in RETRY_STATUSES and attempt < self._attempts:
                self._backoff(attempt, response.headers.get("Retry-After"))
                continue
            if response.status_code >= 400:
                raise _error(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int, retry_after: str | None) -> None:
        if retry_after is not None and retry_after.isdigit():
            delay = min(float(retry_after), 120.0)
        else:
            delay = self._rng.uniform(0, min(30.0, 0.25 * 2 ** attempt))
        self._sleep(delay)

    # -- API ---------------------------------------------------------------------------

    def reachability(self, external_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        ids = list(external_ids)
        for start in range(0, len(ids), 1000):
            answer = self.request("POST", "/recipients/reachability",
                                  json={"external_ids": ids[start:start + 1000]}).json()
            found.update({r["external_id"]: r["reachability"] for r in answer["results"]})
        return found

    def create_batch(self, key: str, reference: str | None,
                     deliver_to_invited: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {"deliver_to_invited": deliver_to_invited}
        if reference:
            body["reference"] = reference
        return self.request("POST", "/batches", json=body,  # type: ignore[no-any-return]
                            headers={"Idempotency-Key": key}).json()

    def batch(self, batch_id: str) -> dict[str, Any]:
        return self.request("GET", f"/batches/{batch_id}").json()  # type: ignore[no-any-return]

    def items(self, batch_id: str, status: str | None = None) -> Iterator[dict[str, Any]]:
        after: int | None = 0
        while after is not None:
            params: dict[str, Any] = {"after": after, "limit": 1000}
            if status:
                params["status"] = status
            page = self.request("GET", f"/batches/{batch_id}/items", params=params).json()
            yield from page["items"]
            after = page["next_after"]

    def add_items(self, batch_id: str, uploads: Sequence[Upload]) -> list[dict[str, Any]]:
        def parts(stack: ExitStack) -> list[tuple[str, Any]]:
            out: list[tuple[str, Any]] = []
            for up in uploads:
                out.append(("item", (None, json.dumps(up.metadata).encode(), "application/json")))
                out.append(("file", (up.filename, stack.enter_context(up.path.open("rb")),
                                     "application/pdf")))
            return out

        answer = self.request("POST", f"/batches/{batch_id}/items", files=parts).json()
        return answer["items"]  # type: ignore[no-any-return]

    def settle(self, batch_id: str, action: str) -> dict[str, Any]:
        """POST close or cancel once (202: more remains)."""
        return self.request("POST", f"/batches/{batch_id}/{action}").json()  # type: ignore[no-any-return]

    def send_document(self, path: Path, metadata: dict[str, Any], key: str) -> dict[str, Any]:
        def parts(stack: ExitStack) -> list[tuple[str, Any]]:
            return [("metadata", (None, json.dumps(metadata).encode(), "application/json")),
                    ("file", (path.name, stack.enter_context(path.open("rb")),
                              "application/pdf"))]

        return self.request("POST", "/documents", files=parts,  # type: ignore[no-any-return]
                            headers={"Idempotency-Key": key}).json()

    def print_item(self, batch_id: str, seq: int, path: Path, address: str | None,
                   out: Path) -> None:
        def parts(stack: ExitStack) -> list[tuple[str, Any]]:
            fields: list[tuple[str, Any]] = []
            if address:
                fields.append(("postal_address", (None, address.encode(), "text/plain")))
            fields.append(("file", (path.name, stack.enter_context(path.open("rb")),
                                    "application/pdf")))
            return fields

        response = self.request("POST", f"/batches/{batch_id}/items/{seq}/print", files=parts)
        out.write_bytes(response.content)


def _error(response: httpx.Response) -> ApiError:
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if isinstance(problem, dict) and "detail" in problem:
        return ApiError(f"{problem.get('title', 'error')}: {problem['detail']} "
                        f"(HTTP {response.status_code})", response.status_code, problem)
    return ApiError(f"HTTP {response.status_code} from {response.request.url}",
                    response.status_code)
