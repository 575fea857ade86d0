"""A live API server on loopback for tests: the whole app (portal + API) in a werkzeug thread.

Fixtures (import them into a conftest): ``s3_pb``, the Postbox on ``db_url`` (both databases)
with its blobs on the loopback S3 server; ``live``, a :class:`Live` around it.

``live_api(pb, **config)`` is a context manager giving a :class:`Live` with the base URL, the
Postbox behind it, an organisation ``acme`` with one token per role, and a second
organisation ``other`` with a sender token (for cross-organisation checks).
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from werkzeug.serving import make_server

from postbox import orgs
from postbox.bootstrap import Postbox, build
from postbox.clock import FrozenClock
from postbox.db import make_engine
from postbox.instance import create_key_files
from tests.fixtures.postbox import cheap_settings
from web import create_app
from web.api import register_api

ROLES = ("sender", "compliance", "admin")
MAX_DOCUMENT = 256 * 1024  # small, so "too large" is cheap to provoke
FAST = {"API_RATE_LIMIT": "100000 per minute", "API_AUTH_FAILURE_LIMIT": "10000 per minute"}


@dataclass
class Live:
    url: str
    pb: Postbox
    app: Flask
    org_id: str
    tokens: dict[str, str]
    other_token: str

    def client(self, role: str = "sender", token: str | None = None,
               **kw: Any) -> httpx.Client:
        auth = token if token is not None else self.tokens[role]
        headers = {"Authorization": f"Bearer {auth}"} if auth else {}
        headers.update(kw.pop("headers", {}))
        return httpx.Client(base_url=self.url + "/api/v1", timeout=30, headers=headers, **kw)


def build_app(pb: Postbox, **config: Any) -> Flask:
    app = create_app(pb, {"TESTING": True, **FAST, **config})
    if "api" not in app.blueprints:  # until create_app registers the API itself
        register_api(app, pb)
    return app


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@contextmanager
def live_api(pb: Postbox, **config: Any) -> Iterator[Live]:
    acme = orgs.create_org(pb, "Acme Bank", "acme")
    orgs.create_org(pb, "Other Org", "other")
    tokens = {role: orgs.create_token(pb, "acme", role) for role in ROLES}
    app = build_app(pb, **config)
    with serve(app) as url:
        yield Live(url, pb, app, acme.id, tokens, orgs.create_token(pb, "other", "sender"))


@pytest.fixture
def s3_pb(tmp_path: Path, db_url: str, s3_server, s3_bucket, monkeypatch,  # type: ignore[no-untyped-def]
          clock: FrozenClock) -> Iterator[Postbox]:
    for name, value in s3_server.env(s3_bucket).items():
        monkeypatch.setenv(name, value)
    settings = cheap_settings(tmp_path / "inst", POSTBOX_DATABASE_URL=db_url,
                              POSTBOX_STORAGE_URL=s3_server.s3_url(s3_bucket),
                              POSTBOX_MAX_DOCUMENT_BYTES=str(MAX_DOCUMENT))
    create_key_files(settings)
    pb = build(settings, clock=clock, engine=make_engine(db_url))
    yield pb
    pb.close()


@pytest.fixture
def live(s3_pb: Postbox) -> Iterator[Live]:
    with live_api(s3_pb) as server:
        yield server
