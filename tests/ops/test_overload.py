"""Overload (web/overload.py): past the in-flight bounds a process answers 503 with Retry-After
at once, and recovers when the requests in progress end; every 429 and 503 says when to retry.

The app runs on a real threaded werkzeug server (as ``postbox serve`` runs it); a view that
waits on an event keeps requests in progress for as long as the test needs.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from flask import Flask, request
from werkzeug.serving import make_server

from postbox.bootstrap import Postbox
from postbox.config import load_settings
from postbox.errors import ConfigError, DatabaseProblem
from tests.web.helpers import post
from web import create_app
from web.overload import DOORS, gauge

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@contextmanager
def served(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def app_with_limits(pb: Postbox, max_inflight: int, argon2_slots: int = 4) -> Flask:
    object.__setattr__(pb, "settings", pb.settings.with_overrides(
        max_inflight=max_inflight, argon2_max_concurrency=argon2_slots))
    return create_app(pb, {"TESTING": True})


def hold(app: Flask, endpoint: str, rule: str | None = None) -> tuple[threading.Event, list[str]]:
    """Make POSTs (any method if ``rule`` is new) to ``endpoint`` wait until the returned event
    is set; ``entered`` lists arrivals."""
    release, entered = threading.Event(), list[str]()

    def waiting(*args: Any, **kwargs: Any) -> Any:
        if original and request.method != "POST":
            return original(*args, **kwargs)
        entered.append(endpoint)
        if not release.wait(timeout=20):
            raise RuntimeError("the test never released the request")
        return original(*args, **kwargs) if original else "done"

    original = app.view_functions.get(endpoint)
    if rule is not None:
        app.add_url_rule(rule, endpoint, waiting)
    else:
        app.view_functions[endpoint] = waiting
    return release, entered


def wait_for(predicate, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


@SQLITE
def test_a_full_process_sheds_at_once_with_retry_after_and_recovers(pb: Postbox) -> None:
    app = app_with_limits(pb, max_inflight=3)
    release, entered = hold(app, "slow", "/__slow")
    with served(app) as base, ThreadPoolExecutor(3) as pool:
        held = [pool.submit(httpx.get, f"{base}/__slow", timeout=30) for _ in range(3)]
        wait_for(lambda: len(entered) == 3)

        started = time.monotonic()
        page = httpx.get(f"{base}/healthz", timeout=30)
        api = httpx.get(f"{base}/api/v1/openapi.json", timeout=30)
        assert time.monotonic() - started < 5  # answered, not queued behind the held ones
        assert page.status_code == 503 and page.headers["Retry-After"] == "2"
        assert "text/html" in page.headers["Content-Type"]
        assert "very busy" in page.text
        assert api.status_code == 503 and api.headers["Retry-After"] == "2"
        assert api.headers["Content-Type"].startswith("application/problem+json")
        assert api.json()["type"] == "urn:postbox:problem:overloaded"
        assert api.json()["status"] == 503

        release.set()
        assert [f.result().status_code for f in held] == [200, 200, 200]
        wait_for(lambda: gauge(app).inflight == 0)
        assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200
    assert gauge(app).shed == 2 and gauge(app).doors == 0


@SQLITE
def test_login_beyond_the_argon2_slots_is_shed_while_reading_goes_on(pb: Postbox) -> None:
    app = app_with_limits(pb, max_inflight=10, argon2_slots=1)
    release, entered = hold(app, "portal.login")
    with served(app) as base, ThreadPoolExecutor(1) as pool:
        first, second = browser(base), browser(base)
        form = {"identifier": "nobody@example.org", "pin": "135790", "otp": "000000"}
        token = _csrf(first)
        held = pool.submit(first.post, "/login", data={**form, "csrf_token": token},
                           timeout=30)
        wait_for(lambda: len(entered) == 1)

        turned_away = second.post("/login", data={**form, "csrf_token": _csrf(second)})
        assert turned_away.status_code == 503 and turned_away.headers["Retry-After"] == "2"
        assert second.get("/login").status_code == 200  # not a door: still admitted
        assert len(entered) == 1  # the shed login never reached the view

        release.set()
        assert held.result().status_code == 401
        wait_for(lambda: gauge(app).doors == 0)
        assert second.post("/login", data={**form, "csrf_token": _csrf(second)}
                           ).status_code == 401


def browser(base: str) -> httpx.Client:
    """A client that, like a browser, sends the Secure session cookie to http://127.0.0.1."""
    http = httpx.Client(base_url=base, timeout=30)

    def insecure(_response: httpx.Response) -> None:
        for cookie in http.cookies.jar:
            cookie.secure = False

    http.event_hooks["response"] = [insecure]
    return http


def _csrf(http: httpx.Client) -> str:
    import re

    found = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/login").text)
    assert found
    return found.group(1)


@SQLITE
def test_rate_limited_login_says_when_to_retry(pb: Postbox) -> None:
    app = create_app(pb, {"TESTING": True, "PORTAL_LOGIN_LIMIT": "2 per minute"})
    client = app.test_client()
    form = {"identifier": "nobody@example.org", "pin": "135790", "otp": "000000"}
    assert [post(client, "/login", form).status_code for _ in range(2)] == [401, 401]
    limited = post(client, "/login", form)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


@SQLITE
def test_an_unavailable_database_page_says_when_to_retry(pb: Postbox) -> None:
    app = create_app(pb, {"TESTING": True})

    def down() -> str:
        raise DatabaseProblem("the database is unavailable; nothing was changed")

    app.add_url_rule("/__down", "down", down)
    answer = app.test_client().get("/__down")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert app.test_client().get("/healthz").headers.get("Retry-After") is None


def test_max_inflight_setting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    home = {"POSTBOX_HOME": str(tmp_path)}
    assert load_settings(home).max_inflight == 32
    assert load_settings({**home, "POSTBOX_MAX_INFLIGHT": "8"}).max_inflight == 8
    with pytest.raises(ConfigError, match="POSTBOX_MAX_INFLIGHT"):
        load_settings({**home, "POSTBOX_MAX_INFLIGHT": "many"})


@SQLITE
def test_every_door_is_a_real_endpoint_taking_posts(app: Flask) -> None:
    """A renamed route would leave its door unguarded without a word."""
    methods = {rule.endpoint: rule.methods or set() for rule in app.url_map.iter_rules()}
    for door in DOORS:
        assert "POST" in methods.get(door, set()), door
