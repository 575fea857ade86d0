"""Shared stores for the many-node tests: a PostgreSQL database of their own and a Redis db.

``scale_db``: an empty database ``postbox_scale_<hex>`` on the session's PostgreSQL server
(the one the ``databases`` fixtures found or started), dropped afterwards; the processes
under test migrate it themselves (``postbox init`` does, as in docker-compose).
``redis_url``: ``redis://127.0.0.1:6379/<n>`` for an empty logical database n (1-15), emptied
again afterwards. Both skip loudly, and the run's summary says so, only when the server is
really not there.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.fixtures.databases import PG_SKIPS, _admin

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
SCALE_SKIPS = pytest.StashKey[list[str]]()


def _skip(request: pytest.FixtureRequest, reason: str) -> None:
    request.config.stash.setdefault(SCALE_SKIPS, []).append(reason)
    pytest.skip(reason)


@pytest.fixture
def scale_db(request: pytest.FixtureRequest) -> Iterator[str]:
    server: URL | str = request.getfixturevalue("_pg_server")
    if isinstance(server, str):
        request.config.stash.setdefault(PG_SKIPS, []).append(server)
        _skip(request, f"many-node test SKIPPED: no PostgreSQL: {server}")
        return
    name = f"postbox_scale_{uuid.uuid4().hex[:16]}"
    _admin(server, f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    try:
        import redis
    except ImportError:  # a declared dependency (limits[redis]): an install problem, not a skip
        pytest.fail("the redis client is missing: pip install -e '.[test]'", pytrace=False)
    try:
        redis.Redis(REDIS_HOST, REDIS_PORT, socket_timeout=2).ping()
    except redis.RedisError as exc:
        _skip(request, f"many-node test SKIPPED: no Redis on {REDIS_HOST}:{REDIS_PORT} ({exc})")
        return
    for db in range(1, 16):  # other test runs may share the server: take an empty database
        client = redis.Redis(REDIS_HOST, REDIS_PORT, db=db, socket_timeout=2)
        if client.dbsize() == 0:
            break
    else:
        pytest.fail("Redis on 127.0.0.1:6379 has no empty database among 1-15", pytrace=False)
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
    finally:
        client.flushdb()
        client.close()


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    for reason in config.stash.get(SCALE_SKIPS, []):
        terminalreporter.write_sep("!", reason, red=True, bold=True)
