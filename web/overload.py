"""Overload: bounds on requests in flight per process, and ``Retry-After`` on every 429 and 503.

Under a spike a slow answer is worse than a quick "come back in a moment": the load bench
(bench/load.py, L3) saw logins queue for 10 s and more and end as 503 pages with no hint
when to retry, because on SQLite every login holds the write lock through its Argon2
derivation. So each process admits at most ``max_inflight`` requests (POSTBOX_MAX_INFLIGHT;
it bounds ``postbox serve``'s thread per request) and at most ``argon2_max_concurrency``
requests to the doors that derive a key from a PIN or code: one more would only wait for an
Argon2 slot, holding a thread that readers need. Whatever is turned away gets 503 with
``Retry-After`` at once: problem+json under /api/, the error page elsewhere. Any other 429 or
503 (rate limits, an unavailable database) gets ``Retry-After`` too, if it has none.

Counters live in the app (``app.extensions``), so two apps in one process never share them.
A request counts until its view returns: a streamed body (an opened PDF) no longer counts.
Under gunicorn's threaded workers requests beyond the threads wait in gunicorn's queue,
unseen here, so the door bound only acts if a worker has more threads than Argon2 slots.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from flask import Flask, Response, current_app, g, jsonify, request
from flask_babel import lazy_gettext as _l

from web.api.problems import MEDIA_TYPE, TYPE_PREFIX, is_api_request
from web.errors import render_error

log = logging.getLogger("postbox.web")
EXTENSION = "postbox.overload"
SHED_RETRY_S = 2
UNAVAILABLE_RETRY_S = 5
RATE_LIMIT_RETRY_S = 60  # the shortest window of the login and activation limits
# POSTs that derive a key with Argon2 (PIN, recovery or activation code, staff password).
DOORS = frozenset({"portal.login", "portal.activate", "portal.activate_pin",
                   "portal.activate_authenticator", "portal.settings_pin", "org.login"})
BUSY = _l("The service is very busy right now. Please try again in a moment.")


@dataclass
class Gauge:
    """Requests in flight in this process, in all and at the Argon2 doors."""

    max_inflight: int
    max_doors: int
    inflight: int = 0
    doors: int = 0
    shed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def admit(self, door: bool) -> bool:
        with self._lock:
            if self.inflight >= self.max_inflight or (door and self.doors >= self.max_doors):
                self.shed += 1
                return False
            self.inflight += 1
            self.doors += door
            return True

    def release(self, door: bool) -> None:
        with self._lock:
            self.inflight -= 1
            self.doors -= door


def gauge(app: Flask) -> Gauge:
    return app.extensions[EXTENSION]  # type: ignore[no-any-return]


def _busy() -> Response:
    headers = {"Retry-After": str(SHED_RETRY_S)}
    if is_api_request():
        response = jsonify({"type": TYPE_PREFIX + "overloaded",
                            "title": "The service is overloaded; retry later", "status": 503,
                            "detail": f"Too many requests in progress; retry after "
                                      f"{SHED_RETRY_S} s."})
        response.status_code = 503
        response.mimetype = MEDIA_TYPE
        response.headers.update(headers)
        return response
    page, status = render_error(503, str(BUSY))
    return Response(page, status, headers=headers)


def _admit() -> Response | None:
    door = request.method == "POST" and request.endpoint in DOORS
    if not gauge(current_app).admit(door):
        log.warning("overloaded: %s %s answered 503", request.method, request.path)
        return _busy()
    g.overload_door = door
    return None


def _release(_exc: BaseException | None) -> None:
    if "overload_door" in g:
        gauge(current_app).release(g.pop("overload_door"))


def _rate_limit_wait() -> int:
    """Seconds until the breached rate limit of this request resets (Flask-Limiter's)."""
    for limiter in current_app.extensions.get("limiter", ()):
        limit = limiter.current_limit
        if limit is not None and limit.breached:
            return max(1, int(limit.reset_at - time.time()))
    return RATE_LIMIT_RETRY_S


def _retry_after(response: Response) -> Response:
    if response.status_code in (429, 503) and "Retry-After" not in response.headers:
        wait = _rate_limit_wait() if response.status_code == 429 else UNAVAILABLE_RETRY_S
        response.headers["Retry-After"] = str(wait)
    return response


def init_app(app: Flask, max_inflight: int, max_doors: int) -> None:
    """Register the bounds; call after the blueprints' error handlers exist."""
    app.extensions[EXTENSION] = Gauge(max_inflight, max_doors)
    app.before_request(_admit)
    app.teardown_request(_release)
    app.after_request(_retry_after)
